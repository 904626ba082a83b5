"""Request rules (RtRule, sdk-wire-contract §2.8; semantics in bundle.md §5) over recommended items.

``{type, slots?, conditions: [{field, arguments: [{action, value: [..]}]}]}``: a rule matches an item when
every condition matches (no conditions: every item); a condition matches when any of its arguments does.
``filter``/``include`` keep only matching items, ``exclude`` drops matching items. Without ``slots`` a rule
applies to every position; with ``slots`` (1-based positions of the whole list, so page 1's slots) only
there: positions are filled in order, each with the first remaining item every rule of that position
accepts; an item refused at one position stays available for later ones. When no remaining item fits a
position the list ends there (a later item cannot take that position without breaking the rule).

Arguments compare the item's ``field`` (a top-level key, or a dotted path into nested objects) with
``value`` (a list): ``in``/``nin`` test membership of the list; ``eq``, ``ne``, ``gt``, ``gte``, ``lt``,
``lte`` compare with its first element; ``contains`` is a substring test on strings and membership on lists.
A list-valued field matches when any element does (``nin``/``ne`` when none does). String values are coerced
to the field's type: numbers for numeric fields (and for ``gt``… whenever both sides read as numbers),
``"true"``/``"false"`` for booleans. A missing field matches only ``nin`` and ``ne``. Unknown rule types and
actions are ignored (logged once per request), never an error: an argument with an unknown action counts
as not given, a condition left with no known arguments is dropped, and a rule whose conditions were all
dropped is ignored (a rule sent with no conditions at all matches every item).
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from edge_agent.agent.wire import RtRuleIn
from edge_agent.storage.values import numeric

logger = logging.getLogger(__name__)

T = TypeVar("T")
ItemTest = Callable[[dict[str, Any]], bool]

_KEEP_TYPES = {"filter": True, "include": True, "exclude": False}
_ORDER = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
_NEGATED = {"nin": "in", "ne": "eq"}
ACTIONS = frozenset({"in", "nin", "eq", "ne", "contains", *_ORDER})


@dataclass(slots=True, frozen=True)
class Rule:
    keep: bool  # True: keep matching items; False: drop them
    slots: frozenset[int] | None  # None: every position
    matches: ItemTest


def _same(actual: Any, wanted: Any) -> bool:
    """Equality after coercing ``wanted`` (usually a string) to the type of ``actual``."""
    if isinstance(actual, bool):
        if isinstance(wanted, str):
            return wanted.lower() == ("true" if actual else "false")
        return wanted is actual
    if isinstance(actual, int | float):
        return numeric(wanted) == actual
    if isinstance(actual, str):
        return actual == (wanted if isinstance(wanted, str) else str(wanted))
    return bool(actual == wanted)


def _positive(action: str, actual: Any, values: Sequence[Any]) -> bool:
    """The action on one scalar (or, for ``contains``, a list) value."""
    if action == "in":
        return any(_same(actual, v) for v in values)
    if action == "contains":
        if isinstance(actual, str):
            return any(str(v) in actual for v in values)
        return False
    if not values:
        return False
    if action == "eq":
        return _same(actual, values[0])
    left, right = numeric(actual), numeric(values[0])
    return left is not None and right is not None and _ORDER[action](left, right)


def _dig(item: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = item
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _argument(field: tuple[str, ...], action: str, values: list[Any]) -> ItemTest:
    base = _NEGATED.get(action, action)
    negate = action in _NEGATED

    def test(item: dict[str, Any]) -> bool:
        actual = _dig(item, field)
        if actual is None:
            hit = False
        elif isinstance(actual, list):
            hit = (
                any(_same(a, v) for a in actual for v in values)
                if base == "contains"
                else any(_positive(base, a, values) for a in actual)
            )
        else:
            hit = _positive(base, actual, values)
        return not hit if negate else hit

    return test


def compile_rules(raw: Sequence[RtRuleIn] | None) -> list[Rule]:
    """Rules ready to apply; unknown types and actions are dropped with one warning per request."""
    rules: list[Rule] = []
    ignored: set[str] = set()
    for rule in raw or ():
        keep = _KEEP_TYPES.get(rule.type.lower())
        if keep is None:
            ignored.add(f"type {rule.type!r}")
            continue
        conditions: list[list[ItemTest]] = []
        for cond in rule.conditions:
            field = tuple(cond.field.split("."))
            tests = []
            for arg in cond.arguments:
                action = arg.action.lower()
                if action not in ACTIONS:
                    ignored.add(f"action {arg.action!r}")
                    continue
                tests.append(_argument(field, action, arg.value))
            if tests:
                conditions.append(tests)
        if rule.conditions and not conditions:
            continue  # every condition was unknown: ignore the rule rather than let it match everything
        slots = frozenset(s for s in rule.slots if s >= 1) if rule.slots else None
        rules.append(Rule(keep, slots, _all_of(conditions)))
    if ignored:
        logger.warning("recommendation rules: ignored unknown %s", ", ".join(sorted(ignored)))
    return rules


def _all_of(conditions: list[list[ItemTest]]) -> ItemTest:
    def matches(item: dict[str, Any]) -> bool:
        return all(any(test(item) for test in tests) for tests in conditions)

    return matches


def _accepts(rules: Sequence[Rule], item: dict[str, Any]) -> bool:
    return all(rule.matches(item) == rule.keep for rule in rules)


def arrange(
    candidates: Sequence[T], rules: Sequence[Rule], item_of: Callable[[T], dict[str, Any]]
) -> list[T]:
    """``candidates`` with the rules applied: the final list whose positions are slot positions."""
    everywhere = [r for r in rules if r.slots is None]
    pool = [c for c in candidates if _accepts(everywhere, item_of(c))] if everywhere else list(candidates)
    placed = [r for r in rules if r.slots is not None]
    if not placed:
        return pool
    last = max(max(r.slots or (0,)) for r in placed)
    out: list[T] = []
    while pool and len(out) < last:
        position = len(out) + 1
        here = [r for r in placed if r.slots is not None and position in r.slots]
        index = next((i for i, c in enumerate(pool) if _accepts(here, item_of(c))), None)
        if index is None:
            return out  # nothing may stand at this position
        out.append(pool.pop(index))
    return out + pool
