"""Comparison operators of the condition language, built once per condition value (bundle.md §2).

:func:`build_test` turns ``(op, value)`` into a test of the *actual* value, specialised on the value's type at
compile time, plus the result to use when the actual value is missing. The semantics every implementation
must share:

- A number ``value`` compares numerically with a number or a numeric string actual (``"42"``, ``" 4.5e1"``;
  not ``"nan"``, ``"inf"`` or ``"1_000"``). A boolean compares with ``true``/``false`` or the exact strings
  ``"true"``/``"false"``, in both directions. Any other type mismatch is false, never an error
  (``1`` is not ``true``, ``"2"`` as a value never equals the number ``2``).
- Lists: ``in`` holds when any element of a list actual is in ``value``; ``contains`` tests membership of
  ``value``; ``eq`` compares whole lists element by element. On strings ``contains`` is a substring test.
- ``ne`` and ``nin`` are the exact negations of ``eq`` and ``in`` (so true on a missing value or a type
  mismatch); ``not_contains`` needs a string or list actual and is false otherwise, including when missing.
- ``gt``/``gte``/``lt``/``lte``/``between`` (inclusive) compare numbers as above, or strings with strings
  (lexicographically, which orders RFC 3339 times correctly).
- ``matches`` is ``re.search`` on a string actual. ``is_empty`` holds for missing, ``""``, ``[]`` and ``{}``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, TypeGuard

Test = Callable[[Any], bool]  # applied to a present (non-None) actual value

_NUMERIC = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*")
_BOOL_STRINGS = {"true": True, "false": False}
# Operators that hold for a missing value; every other operator is false on it.
_TRUE_WHEN_MISSING = frozenset({"not_exists", "is_empty", "ne", "nin"})


def is_number(value: Any) -> TypeGuard[int | float]:
    """True for int and float, but not bool (a JSON ``true`` is not the number 1)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_number(actual: Any) -> int | float | None:
    """``actual`` as a number when it is one or a finite numeric string, else None."""
    if is_number(actual):
        return actual
    if isinstance(actual, str) and _NUMERIC.fullmatch(actual):
        number = float(actual)
        return number if math.isfinite(number) else None
    return None


def as_bool(actual: Any) -> bool | None:
    """``actual`` as a boolean when it is one or exactly ``"true"``/``"false"``, else None."""
    if isinstance(actual, bool):
        return actual
    if isinstance(actual, str):
        return _BOOL_STRINGS.get(actual)
    return None


def equality(expected: Any) -> Test:
    """A test for "actual equals ``expected``" under the coercion rules above."""
    if isinstance(expected, bool):
        return lambda actual: as_bool(actual) is expected
    if is_number(expected):
        return lambda actual: (number := as_number(actual)) is not None and number == expected
    if isinstance(expected, str):
        flag = _BOOL_STRINGS.get(expected)
        if flag is None:
            return lambda actual: isinstance(actual, str) and actual == expected
        # "true"/"false" also match a boolean actual (``user.isNew eq "true"``).
        return lambda actual: actual == expected if isinstance(actual, str) else as_bool(actual) is flag
    if isinstance(expected, list):
        tests = [equality(element) for element in expected]
        return lambda actual: (
            isinstance(actual, list)
            and len(actual) == len(tests)
            and all(test(element) for test, element in zip(tests, actual, strict=True))
        )
    if isinstance(expected, dict):
        by_key = {key: equality(value) for key, value in expected.items()}
        return lambda actual: (
            isinstance(actual, dict)
            and actual.keys() == by_key.keys()
            and all(test(actual[key]) for key, test in by_key.items())
        )
    return lambda actual: False  # null or a non-JSON value equals nothing


def _membership(values: list[Any]) -> Test:
    """A test for "a scalar actual equals one of ``values``"."""
    if all(isinstance(value, str) and value not in _BOOL_STRINGS for value in values):
        fast = frozenset(values)  # the common case (ctx.type in [...]): one hash lookup
        return lambda actual: isinstance(actual, str) and actual in fast
    tests = [equality(value) for value in values]
    return lambda actual: any(test(actual) for test in tests)


def _is_in(values: list[Any]) -> Test:
    member = _membership(values)
    return lambda actual: any(member(x) for x in actual) if isinstance(actual, list) else member(actual)


def _contains(value: Any) -> Test:
    element = equality(value)
    if isinstance(value, str):
        return lambda actual: (
            value in actual
            if isinstance(actual, str)
            else isinstance(actual, list) and any(map(element, actual))
        )
    return lambda actual: isinstance(actual, list) and any(map(element, actual))


def _ordering(value: Any) -> Callable[[Any], Any]:
    """Converts an actual to something comparable with ``value`` (a number or a string), or None."""
    if is_number(value):
        return as_number
    return lambda actual: actual if isinstance(actual, str) else None


def _compare(op: str, value: Any) -> Test:
    convert = _ordering(value)
    if op == "gt":
        return lambda actual: (x := convert(actual)) is not None and x > value
    if op == "gte":
        return lambda actual: (x := convert(actual)) is not None and x >= value
    if op == "lt":
        return lambda actual: (x := convert(actual)) is not None and x < value
    return lambda actual: (x := convert(actual)) is not None and x <= value


def _between(lo: Any, hi: Any) -> Test:
    convert = _ordering(lo)
    return lambda actual: (x := convert(actual)) is not None and lo <= x <= hi


def build_test(op: str, value: Any) -> tuple[Test, bool]:
    """``(test, when_missing)`` for one operator; ``op`` and ``value`` must already be valid.

    Everything derived from ``value`` (its type dispatch, a ``matches`` regex, an ``in`` set) is worked out
    here, once. Raises ``ValueError`` for an operator this module does not know and ``re.error`` for a bad
    pattern (the compiler turns both into a ``ConditionError``).
    """
    when_missing = op in _TRUE_WHEN_MISSING
    test: Test
    if op == "eq":
        test = equality(value)
    elif op == "ne":
        eq = equality(value)
        test = lambda actual: not eq(actual)  # noqa: E731
    elif op == "in":
        test = _is_in(value)
    elif op == "nin":
        is_in = _is_in(value)
        test = lambda actual: not is_in(actual)  # noqa: E731
    elif op == "contains":
        test = _contains(value)
    elif op == "not_contains":
        contains = _contains(value)
        text_ok = isinstance(value, str)  # a substring test needs a string value
        test = lambda actual: (  # noqa: E731
            (isinstance(actual, list) or (text_ok and isinstance(actual, str))) and not contains(actual)
        )
    elif op == "starts_with":
        test = lambda actual: isinstance(actual, str) and actual.startswith(value)  # noqa: E731
    elif op == "ends_with":
        test = lambda actual: isinstance(actual, str) and actual.endswith(value)  # noqa: E731
    elif op == "matches":
        regex = re.compile(value)
        test = lambda actual: isinstance(actual, str) and regex.search(actual) is not None  # noqa: E731
    elif op in ("gt", "gte", "lt", "lte"):
        test = _compare(op, value)
    elif op == "between":
        test = _between(value[0], value[1])
    elif op == "exists":
        test = lambda actual: True  # noqa: E731
    elif op == "not_exists":
        test = lambda actual: False  # noqa: E731
    elif op == "is_empty":
        test = lambda actual: isinstance(actual, str | list | dict) and len(actual) == 0  # noqa: E731
    else:
        raise ValueError(f"unknown operator {op!r}")
    return test, when_missing
