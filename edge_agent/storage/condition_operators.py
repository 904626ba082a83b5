"""The condition operators (bundle.md §2): each defined once, as one :class:`Operator` in :data:`OPERATORS`.

An operator is its name, the operand it accepts (``check``, what the bundle validator reports), whether it
may compare a ``count``, its result on a missing value, and ``build``, which turns a valid operand into a test
of a present actual value, worked out once per bundle version. The validator (``storage/conditions.py``) and
the compiler (``agent/decide/conditions.py``) both read this registry and nothing else, so a new operator is
one more entry here. It lives in ``storage`` (pure Python) so the pull job can validate without the agent.

The semantics every implementation must share:

- A number operand compares numerically with a number or a numeric string actual (``"42"``, ``" 4.5e1"``;
  not ``"nan"``, ``"inf"`` or ``"1_000"``). A boolean compares with ``true``/``false`` or the exact strings
  ``"true"``/``"false"``, in both directions. Any other type mismatch is false, never an error
  (``1`` is not ``true``, ``"2"`` as an operand never equals the number ``2``).
- Lists: ``in`` holds when any element of a list actual is in the operand; ``contains`` tests membership of
  the operand; ``eq`` compares whole lists element by element. On strings ``contains`` is a substring test.
- ``ne`` and ``nin`` are the exact negations of ``eq`` and ``in`` (so true on a missing value or a type
  mismatch); ``not_contains`` needs a string or list actual and is false otherwise, including when missing.
- ``gt``/``gte``/``lt``/``lte``/``between`` (inclusive) compare numbers as above, or strings with strings
  (lexicographically, which orders RFC 3339 times correctly).
- ``matches`` is ``re.search`` on a string actual. ``is_empty`` holds for missing, ``""``, ``[]`` and ``{}``.
- A missing value is false except for ``not_exists``/``is_empty``/``ne``/``nin`` (``when_missing``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edge_agent.json_depth import depth_problem
from edge_agent.storage.values import is_number, numeric

Test = Callable[[Any], bool]  # applied to a present (non-None) actual value
#: Why an operand does not suit an operator, or None when it does (the operand is never None here).
Check = Callable[[Any], "str | None"]

MAX_PATTERN_LENGTH = 256
#: How deep an ``eq``/``in`` operand may nest lists and objects: building its test recurses once per level.
MAX_OPERAND_DEPTH = 32

_BOOL_STRINGS = {"true": True, "false": False}


@dataclass(frozen=True, slots=True)
class Operator:
    """One condition operator. ``check`` is None for an operator that takes no operand (``exists``)."""

    name: str
    check: Check | None
    build: Callable[[Any], Test]
    when_missing: bool = False  # the result when the actual value is missing
    count_check: Check | None = None  # for the ``op`` of a ``count`` condition; None: cannot compare counts
    example: Any = None  # a valid operand, so tests can exercise every entry (None for no operand)

    @property
    def takes_operand(self) -> bool:
        return self.check is not None

    def operand_problem(self, value: Any, *, counted: bool = False) -> str | None:
        """Why ``value`` (the condition's ``value``; None when absent) does not suit this operator, in a
        ``count`` condition when ``counted`` (only for an operator with a ``count_check``)."""
        if self.check is None:
            return None if value is None else f"not allowed with {self.name!r}"
        if value is None:
            return "required"
        problem = self.check(value)
        if problem is None and counted and self.count_check is not None:
            return self.count_check(value)
        return problem

    def test(self, value: Any) -> tuple[Test, bool]:
        """``(test, when_missing)`` for a valid operand (None for an operator without one)."""
        return self.build(value), self.when_missing


# --- coercion (numbers: ``storage/values.py``) -------------------------------------------------------------


def as_bool(actual: Any) -> bool | None:
    """``actual`` as a boolean when it is one or exactly ``"true"``/``"false"``, else None."""
    if isinstance(actual, bool):
        return actual
    if isinstance(actual, str):
        return _BOOL_STRINGS.get(actual)
    return None


# --- operand checks ----------------------------------------------------------------------------------------


def _any_json(value: Any) -> str | None:
    return depth_problem(value, MAX_OPERAND_DEPTH) if isinstance(value, list | dict) else None


def _a_list(value: Any) -> str | None:
    return _any_json(value) if isinstance(value, list) else "must be a list"


def _a_scalar(value: Any) -> str | None:
    return None if isinstance(value, str | int | float) else "must be a string, number or boolean"


def _a_string(value: Any) -> str | None:
    return None if isinstance(value, str) else "must be a string"


def _an_ordered(value: Any) -> str | None:
    return None if is_number(value) or isinstance(value, str) else "must be a number or a string"


def pattern_problem(pattern: Any) -> str | None:
    """Why ``pattern`` is not an acceptable ``matches`` pattern, or None when it is."""
    if not isinstance(pattern, str):
        return "must be a string"
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"pattern longer than {MAX_PATTERN_LENGTH} characters"
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"invalid regular expression: {exc}"
    return None


def _a_range(value: Any) -> str | None:
    if not (isinstance(value, list) and len(value) == 2):
        return "must be [lo, hi]"
    lo, hi = value
    inverted = "lo must not be greater than hi"
    if is_number(lo) and is_number(hi):
        return inverted if lo > hi else None
    if isinstance(lo, str) and isinstance(hi, str):
        return inverted if lo > hi else None
    return "must be [lo, hi] of two numbers or two strings"


def _a_number(value: Any) -> str | None:
    return None if is_number(value) else "must be a number"


def _a_number_range(value: list[Any]) -> str | None:
    return None if all(is_number(x) for x in value) else "must be [lo, hi] of two numbers"


# --- tests -------------------------------------------------------------------------------------------------


def equality(expected: Any) -> Test:
    """A test for "actual equals ``expected``" under the coercion rules above."""
    if isinstance(expected, bool):
        return lambda actual: as_bool(actual) is expected
    if is_number(expected):
        return lambda actual: (number := numeric(actual)) is not None and number == expected
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


def _negation(build: Callable[[Any], Test]) -> Callable[[Any], Test]:
    def negated(value: Any) -> Test:
        test = build(value)
        return lambda actual: not test(actual)

    return negated


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


def _not_contains(value: Any) -> Test:
    contains = _contains(value)
    text_ok = isinstance(value, str)  # a substring test needs a string operand
    return lambda actual: (
        (isinstance(actual, list) or (text_ok and isinstance(actual, str))) and not contains(actual)
    )


def _starts_with(value: str) -> Test:
    return lambda actual: isinstance(actual, str) and actual.startswith(value)


def _ends_with(value: str) -> Test:
    return lambda actual: isinstance(actual, str) and actual.endswith(value)


def _matches(pattern: str) -> Test:
    regex = re.compile(pattern)
    return lambda actual: isinstance(actual, str) and regex.search(actual) is not None


def _ordering(value: Any) -> Callable[[Any], Any]:
    """Converts an actual to something comparable with ``value`` (a number or a string), or None."""
    if is_number(value):
        return numeric
    return lambda actual: actual if isinstance(actual, str) else None


def _gt(value: Any) -> Test:
    convert = _ordering(value)
    return lambda actual: (x := convert(actual)) is not None and x > value


def _gte(value: Any) -> Test:
    convert = _ordering(value)
    return lambda actual: (x := convert(actual)) is not None and x >= value


def _lt(value: Any) -> Test:
    convert = _ordering(value)
    return lambda actual: (x := convert(actual)) is not None and x < value


def _lte(value: Any) -> Test:
    convert = _ordering(value)
    return lambda actual: (x := convert(actual)) is not None and x <= value


def _between(value: list[Any]) -> Test:
    lo, hi = value
    convert = _ordering(lo)
    return lambda actual: (x := convert(actual)) is not None and lo <= x <= hi


def _present(value: None) -> Test:
    return lambda actual: True


def _absent(value: None) -> Test:
    return lambda actual: False


def _empty(value: None) -> Test:
    return lambda actual: isinstance(actual, str | list | dict) and len(actual) == 0


_REGISTRY = (
    Operator("eq", _any_json, equality, count_check=_a_number, example="x"),
    Operator("ne", _any_json, _negation(equality), when_missing=True, count_check=_a_number, example="x"),
    Operator("in", _a_list, _is_in, example=["x"]),
    Operator("nin", _a_list, _negation(_is_in), when_missing=True, example=["x"]),
    Operator("contains", _a_scalar, _contains, example="x"),
    Operator("not_contains", _a_scalar, _not_contains, example="x"),
    Operator("starts_with", _a_string, _starts_with, example="x"),
    Operator("ends_with", _a_string, _ends_with, example="x"),
    Operator("matches", pattern_problem, _matches, example="^x"),
    Operator("gt", _an_ordered, _gt, count_check=_a_number, example=1),
    Operator("gte", _an_ordered, _gte, count_check=_a_number, example=1),
    Operator("lt", _an_ordered, _lt, count_check=_a_number, example=1),
    Operator("lte", _an_ordered, _lte, count_check=_a_number, example=1),
    Operator("between", _a_range, _between, count_check=_a_number_range, example=[1, 2]),
    Operator("exists", None, _present),
    Operator("not_exists", None, _absent, when_missing=True),
    Operator("is_empty", None, _empty, when_missing=True),
)
#: Every operator by name: the one list the validator accepts and the compiler builds from.
OPERATORS: Mapping[str, Operator] = {op.name: op for op in _REGISTRY}
