"""Structural validation of the bundle's condition language (bundle.md §2).

This module only says whether a condition is well formed; ``agent/decide/conditions.py`` compiles validated
conditions into predicates. It lives in ``storage`` so the pull job can reject a bad bundle without importing
the agent. The operators and their operand rules are the registry in ``condition_operators.py``, the paths the
table in ``condition_paths.py``; this module reads both, and the compiler reuses :func:`condition_issues`.

Grammar::

    Condition := {"all": [Condition, ...]} | {"any": [Condition, ...]} | {"not": Condition}
               | {"attr": "<path>", "op": "<op>", "value": <JSON>}
               | {"segment": "<segmentId>"}
               | {"count": {"event": "<type>", "withinDays": N, "where": Condition?},
                  "op": "<op>", "value": N}

Decisions where bundle.md is silent:

- A condition object has exactly one kind key (``all``, ``any``, ``not``, ``attr``, ``segment``, ``count``).
  Keys of another kind (``op`` next to ``all``) are errors; keys the grammar does not know are ignored, like
  unknown keys elsewhere in the bundle. ``{}`` is an error, not "always true" (omit the condition instead).
- Empty ``all``/``any`` lists are allowed and mean what ``all()``/``any()`` mean: ``all: []`` holds,
  ``any: []`` never does.
- ``exists``/``not_exists``/``is_empty`` take no ``value`` (``null`` is tolerated as absent): a stray
  ``"value": false`` on ``exists`` usually means the author wanted ``not_exists``. Every other operator
  needs a non-null ``value``.
- In ``user.attributes.<k>``, ``ctx.utm.<k>`` and ``ctx.attributes.<k>`` everything after the prefix is one
  key (the maps are flat and keys may contain dots). ``event.<f>`` and ``item.<f>`` are nested field paths.
- Where ``event.*``/``item.*`` appear is not checked here (they are simply missing outside EVENT triggers,
  ``count.where`` and strategy filters), nor whether a ``segment`` id exists: that needs the whole bundle.
- ``count`` compares a number, so its ``op`` is an operator with a ``count_check`` (``eq ne gt gte lt lte
  between``) and its ``value`` numeric; a ``count`` inside a ``count.where`` is rejected (it would rescan
  the history once per entry).
- Nesting deeper than :data:`MAX_DEPTH` is rejected so neither validation nor compilation can overflow the
  stack.
"""

from __future__ import annotations

from typing import Any

from edge_agent.storage.condition_operators import OPERATORS
from edge_agent.storage.condition_paths import resolve
from edge_agent.storage.values import is_number

KINDS = ("all", "any", "not", "attr", "segment", "count")
_KIND_KEYS: dict[str, frozenset[str]] = {
    "all": frozenset({"all"}),
    "any": frozenset({"any"}),
    "not": frozenset({"not"}),
    "attr": frozenset({"attr", "op", "value"}),
    "segment": frozenset({"segment"}),
    "count": frozenset({"count", "op", "value"}),
}
_GRAMMAR_KEYS = frozenset().union(*_KIND_KEYS.values())

MAX_DEPTH = 32

Issue = tuple[str, str]  # (sub-path, message); "" is the condition itself


def condition_problems(raw: Any, loc: str = "") -> list[str]:
    """Every structural problem of ``raw`` as ``"<loc>.<sub.path>: <message>"``; ``[]`` when it is valid.

    ``loc`` is where the condition sits in the bundle (``"segments.0.condition"``); with the default ``""``
    messages read ``"all.1.op: unknown operator 'foo'"``, and a problem with the root itself reads
    ``"condition: must be a condition object"``.
    """
    return [f"{_join(loc, path) or 'condition'}: {message}" for path, message in condition_issues(raw)]


def condition_issues(raw: Any) -> list[Issue]:
    """Like :func:`condition_problems`, as ``(sub_path, message)`` pairs relative to ``raw``."""
    issues: list[Issue] = []
    _check(raw, "", 0, False, issues)
    return issues


def kind_of(node: dict[str, Any]) -> str | None:
    """The kind key of a condition object, or None when it has none or several."""
    kinds = [kind for kind in KINDS if kind in node]
    return kinds[0] if len(kinds) == 1 else None


def path_problem(path: Any) -> str | None:
    """Why ``path`` is not a valid ``attr`` path, or None when it is."""
    if not isinstance(path, str):
        return "must be a string"
    return None if resolve(path) is not None else f"unknown path {path!r}"


def _join(loc: str, sub: str) -> str:
    return f"{loc}.{sub}" if loc and sub else loc or sub


def _check(node: Any, loc: str, depth: int, in_where: bool, issues: list[Issue]) -> None:
    if depth > MAX_DEPTH:
        issues.append((loc, f"nesting deeper than {MAX_DEPTH} levels"))
        return
    if not isinstance(node, dict):
        issues.append((loc, "must be a condition object"))
        return
    kinds = [kind for kind in KINDS if kind in node]
    if not kinds:
        issues.append((loc, f"must have one of {', '.join(KINDS)}"))
        return
    if len(kinds) > 1:
        issues.append((loc, f"ambiguous: has both {kinds[0]!r} and {kinds[1]!r}"))
        return
    kind = kinds[0]
    for key in sorted((node.keys() & _GRAMMAR_KEYS) - _KIND_KEYS[kind]):
        issues.append((_join(loc, key), f"not allowed in a {kind!r} condition"))

    if kind in ("all", "any"):
        children = node[kind]
        if not isinstance(children, list):
            issues.append((_join(loc, kind), "must be a list of conditions"))
            return
        for index, child in enumerate(children):
            _check(child, _join(loc, f"{kind}.{index}"), depth + 1, in_where, issues)
    elif kind == "not":
        _check(node["not"], _join(loc, "not"), depth + 1, in_where, issues)
    elif kind == "segment":
        if not (isinstance(node["segment"], str) and node["segment"]):
            issues.append((_join(loc, "segment"), "must be a non-empty segment id"))
    elif kind == "attr":
        if (problem := path_problem(node["attr"])) is not None:
            issues.append((_join(loc, "attr"), problem))
        _check_op(node, loc, False, issues)
    else:
        _check_count(node, loc, depth, in_where, issues)


def _check_op(node: dict[str, Any], loc: str, counted: bool, issues: list[Issue]) -> None:
    name = node.get("op")
    if name is None:
        issues.append((_join(loc, "op"), "required"))
    elif not isinstance(name, str):
        issues.append((_join(loc, "op"), "must be a string"))
    elif (op := OPERATORS.get(name)) is None:
        issues.append((_join(loc, "op"), f"unknown operator {name!r}"))
    elif counted and op.count_check is None:
        issues.append((_join(loc, "op"), f"{name!r} cannot compare a count"))
    elif (problem := op.operand_problem(node.get("value"), counted=counted)) is not None:
        issues.append((_join(loc, "value"), problem))


def _check_count(node: dict[str, Any], loc: str, depth: int, in_where: bool, issues: list[Issue]) -> None:
    spec, spec_loc = node["count"], _join(loc, "count")
    if in_where:
        issues.append((spec_loc, "not allowed inside count.where"))
    elif not isinstance(spec, dict):
        issues.append((spec_loc, "must be an object with event, withinDays and optional where"))
    else:
        event = spec.get("event")
        if not (isinstance(event, str) and event):
            issues.append((_join(spec_loc, "event"), "must be a non-empty event type (or 'visit')"))
        days = spec.get("withinDays")
        if not (is_number(days) and days > 0):
            issues.append((_join(spec_loc, "withinDays"), "must be a positive number"))
        if spec.get("where") is not None:
            _check(spec["where"], _join(spec_loc, "where"), depth + 1, True, issues)
    _check_op(node, loc, True, issues)
