"""Segment membership for one request (bundle.md §3), and the checks that keep it well defined.

Segments are evaluated lazily and at most once per request: a campaign that references one segment costs one
evaluation, and only ``user.segments`` (a condition path, or UserInfo) evaluates them all.

Segments may reference segments. ``{"segment": id}`` references must not form a cycle: :func:`segment_graph`
finds cycles when the bundle is compiled, and the bundle is rejected. A segment may also read the
``user.segments`` list; inside a segment's condition that list holds only the segments that do not depend on
the list themselves (directly or through references) — otherwise a segment's membership would depend on
itself, or on which segment happened to be asked first.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from edge_agent.agent.decide.conditions import ConditionError, Predicate
from edge_agent.agent.decide.context import EvalContext
from edge_agent.storage.bundles import Segment


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def segment_graph(segments: list[Segment]) -> frozenset[str]:
    """Check the segments' references and return the ids that depend on the ``user.segments`` list.

    Raises :class:`ConditionError` (located at the segment) for a reference cycle.
    """
    refs: dict[str, set[str]] = {}
    reads_list: set[str] = set()
    for segment in segments:
        nodes = list(_walk(segment.condition))
        refs[segment.segment_id] = {n["segment"] for n in nodes if isinstance(n.get("segment"), str)}
        if any(n.get("attr") == "user.segments" for n in nodes):
            reads_list.add(segment.segment_id)
    index = {s.segment_id: i for i, s in enumerate(segments)}
    done: set[str] = set()
    dependent = set(reads_list)

    def visit(segment_id: str, path: list[str]) -> None:
        if segment_id in path:
            cycle = " → ".join([*path[path.index(segment_id) :], segment_id])
            raise ConditionError(f"segments.{index[path[0]]}.condition", f"segment reference cycle: {cycle}")
        if segment_id in done or segment_id not in refs:
            return
        for ref in sorted(refs[segment_id]):
            visit(ref, [*path, segment_id])
            if ref in dependent:
                dependent.add(segment_id)
        done.add(segment_id)

    for segment in segments:
        visit(segment.segment_id, [])
    return frozenset(dependent)


class SegmentCache:
    """Membership of one profile in the bundle's segments, for one request's :class:`EvalContext`.

    Install it with :meth:`attach`; then ``{"segment": id}`` calls :meth:`member` and ``user.segments``
    calls :meth:`ids`. An unknown segment id is "not a member".
    """

    __slots__ = ("_active", "_ctx", "_ids", "_list_dependent", "_memo", "_predicates")

    def __init__(
        self, predicates: Mapping[str, Predicate], list_dependent: frozenset[str], ctx: EvalContext
    ) -> None:
        self._predicates = predicates
        self._list_dependent = list_dependent
        self._ctx = ctx
        self._memo: dict[str, bool] = {}
        self._active: set[str] = set()
        self._ids: list[str] | None = None

    @classmethod
    def attach(
        cls, predicates: Mapping[str, Predicate], list_dependent: frozenset[str], ctx: EvalContext
    ) -> SegmentCache:
        cache = cls(predicates, list_dependent, ctx)
        ctx.segments = cache.member
        ctx.segment_list = cache.ids
        return cache

    def member(self, segment_id: str) -> bool:
        known = self._memo.get(segment_id)
        if known is not None:
            return known
        predicate = self._predicates.get(segment_id)
        # The active check is a safety net: compiled bundles have no reference cycles.
        if predicate is None or segment_id in self._active:
            return False
        self._active.add(segment_id)
        try:
            result = bool(predicate(self._ctx))
        finally:
            self._active.discard(segment_id)
        self._memo[segment_id] = result
        return result

    def ids(self) -> list[str]:
        """The segments the profile is in, in bundle order (a fresh list each call).

        Asked from inside a segment's condition, segments that depend on this list are left out.
        """
        if self._active:
            return [s for s in self._predicates if s not in self._list_dependent and self.member(s)]
        if self._ids is None:
            self._ids = [s for s in self._predicates if self.member(s)]
        return list(self._ids)
