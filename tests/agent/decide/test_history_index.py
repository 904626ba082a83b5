"""The per-request history index ``count`` conditions read: windows by type, built once, never stale."""

from __future__ import annotations

import dataclasses

from edge_agent.agent.decide.conditions import compile_condition
from edge_agent.agent.decide.context import HistoryEntry, HistoryIndex
from tests.agent.decide.builders import DAY, NOW, context


def at(kind: str, days_ago: float) -> HistoryEntry:
    return HistoryEntry(type=kind, at=NOW - days_ago * DAY, event={}, ctx={})


def test_since_returns_one_types_entries_in_the_window_oldest_first_from_any_order() -> None:
    history = [at("a", 1), at("b", 2), at("a", 10), at("a", 3), at("a", 0), at("a", float("nan"))]
    index = HistoryIndex(history)
    assert [NOW - e.at for e in index.since("a", NOW - 5 * DAY)] == [3 * DAY, 1 * DAY, 0.0]
    assert index.since("a", NOW - 3 * DAY)[0].at == NOW - 3 * DAY  # the window's start is inclusive
    assert index.since("c", 0) == []


def test_the_index_is_built_once_per_history_and_rebuilt_for_another() -> None:
    two_visits = compile_condition({"count": {"event": "visit", "withinDays": 7}, "op": "eq", "value": 2})
    ctx = context(history=[at("visit", 1), at("visit", 2)])
    assert two_visits(ctx)
    index = ctx.history_index
    assert index is not None
    assert two_visits(ctx) and ctx.history_index is index  # reused within the request

    # A copy with another history (as tests and future callers make) must not read the old index.
    other = dataclasses.replace(ctx, history=[at("visit", 1)])
    assert other.history_index is index
    assert not two_visits(other)
    assert other.history_index is not index
