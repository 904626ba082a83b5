"""Compiles bundle conditions (bundle.md §2) into plain predicates over an :class:`EvalContext`.

Each condition is compiled once per bundle version: paths become accessor closures (the path table of
``storage/condition_paths.py``), operands are specialised and regexes compiled up front (each operator's
``build`` in ``storage/condition_operators.py``), so evaluating a request walks closures and never re-reads
the JSON. Structure is checked by ``storage.conditions`` — the same registry and rules the pull job uses —
and :func:`compile_condition` raises :class:`ConditionError` instead of crashing on anything that check
rejects. Validation caps nesting (``MAX_DEPTH``), so the recursion here is bounded.

At evaluation time a predicate never raises: odd data (a list where a string was expected, a non-dict ``ctx``)
is a type mismatch and therefore false (true for ``ne``/``nin``, which negate). As a last line of defence a
leaf that still fails is logged and counts as false.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from edge_agent.agent.decide.context import EvalContext
from edge_agent.storage.condition_operators import OPERATORS, Test
from edge_agent.storage.condition_paths import resolve
from edge_agent.storage.conditions import condition_issues, kind_of

logger = logging.getLogger(__name__)

Predicate = Callable[[EvalContext], bool]
Accessor = Callable[[EvalContext], Any]  # None means missing

_DAY_SECONDS = 86_400.0


class ConditionError(ValueError):
    """A condition that cannot be compiled; ``path`` is relative to the condition (``"all.1.op"``)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path or 'condition'}: {message}")


def always_true(context: EvalContext) -> bool:
    """The predicate of an absent condition."""
    return True


def compile_condition(raw: dict[str, Any] | None) -> Predicate:
    """Compile one condition; ``None`` (no condition) always holds.

    Raises :class:`ConditionError` for the first problem :func:`storage.conditions.condition_problems` would
    report (bundles are validated as a whole before compiling, so this only fires on unvalidated input).
    """
    if raw is None:
        return always_true
    issues = condition_issues(raw)
    if issues:
        raise ConditionError(*issues[0])
    return _compile(raw, "")


def _join(loc: str, sub: str) -> str:
    return f"{loc}.{sub}" if loc else sub


def _compile(node: dict[str, Any], loc: str) -> Predicate:
    kind = kind_of(node)
    if kind in ("all", "any"):
        children = [_compile(child, _join(loc, f"{kind}.{i}")) for i, child in enumerate(node[kind])]
        if len(children) == 1:
            return children[0]
        if kind == "all":
            return lambda context: all(child(context) for child in children)
        return lambda context: any(child(context) for child in children)
    if kind == "not":
        inner = _compile(node["not"], _join(loc, "not"))
        return lambda context: not inner(context)
    if kind == "segment":
        return _segment(node["segment"], loc)
    if kind == "attr":
        return _leaf(accessor(node["attr"], _join(loc, "attr")), *_test(node, loc), loc)
    if kind == "count":
        return _count(node, loc)
    raise ConditionError(loc, "not a condition object")


def _test(node: dict[str, Any], loc: str) -> tuple[Test, bool]:
    op = OPERATORS.get(node.get("op", ""))
    if op is None:
        raise ConditionError(_join(loc, "op"), f"unknown operator {node.get('op')!r}")
    try:
        return op.test(node.get("value"))
    except (ValueError, TypeError, IndexError, re.error) as exc:
        raise ConditionError(_join(loc, "op"), str(exc)) from exc


def _leaf(get: Accessor, test: Test, when_missing: bool, loc: str) -> Predicate:
    def predicate(context: EvalContext) -> bool:
        try:
            actual = get(context)
            return when_missing if actual is None else test(actual)
        except Exception:  # odd data must fail the condition, never the request
            logger.warning("condition %s failed on unexpected data; treated as false", loc or "(root)")
            return False

    return predicate


def _segment(segment_id: str, loc: str) -> Predicate:
    """``{"segment": id}``: the ``segments`` callable, else membership of ``segment_list``, else false."""

    def predicate(context: EvalContext) -> bool:
        try:
            if context.segments is not None:
                return bool(context.segments(segment_id))
            listed = _user_segments(context)
            return listed is not None and segment_id in listed
        except Exception:
            logger.warning("segment condition %s failed; treated as false", loc or "(root)")
            return False

    return predicate


def _count(node: dict[str, Any], loc: str) -> Predicate:
    """Entries of ``count.event`` type with ``at >= now - withinDays`` that satisfy ``where``, then op/value.

    Entries dated after ``now`` (a device clock running ahead) still count: they are recent by any reading.
    Entries come from the context's :class:`HistoryIndex`, so only the type's entries in the window are read.
    """
    spec = node["count"]
    event_type: str = spec["event"]
    window = float(spec["withinDays"]) * _DAY_SECONDS
    where = _compile(spec["where"], _join(loc, "count.where")) if spec.get("where") is not None else None
    test, _ = _test(node, loc)

    def predicate(context: EvalContext) -> bool:
        try:
            entries = context.indexed_history().since(event_type, context.now - window)
            if where is None:
                return test(len(entries))
            # One scratch copy whose event/ctx are swapped per entry: cheaper than a copy per entry.
            scratch = dataclasses.replace(context)
            matched = 0
            for entry in entries:
                scratch.event = entry.event if isinstance(entry.event, dict) else None
                scratch.ctx = entry.ctx if isinstance(entry.ctx, dict) else {}
                if where(scratch):
                    matched += 1
            return test(matched)
        except Exception:
            logger.warning("count condition %s failed on unexpected data; treated as false", loc or "(root)")
            return False

    return predicate


# --- paths -------------------------------------------------------------------------------------------------


def accessor(path: str, loc: str = "attr") -> Accessor:
    """The accessor of a valid ``attr`` path; it returns None when the value is missing.

    Raises :class:`ConditionError` (at ``loc``) for a path outside the grammar.
    """
    found = resolve(path)
    if found is None:
        raise ConditionError(loc, f"unknown path {path!r}")
    source, read = attrgetter(found.source), found.read
    return lambda context: read(source(context))


_user_segments = accessor("user.segments")  # what a segment condition reads without a membership test
