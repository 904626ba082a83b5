"""What a compiled condition is evaluated against (bundle.md §2).

The request handlers build one :class:`EvalContext` per request from the profile, the session and the request;
compiled predicates only read it. Its sections are typed by the declarations the path table is made of
(``storage/condition_paths.py``), so the builder and the validator agree on every key. Missing keys and
``None`` values mean "missing" everywhere, so a builder may leave out whatever it does not know.
"""

from __future__ import annotations

import dataclasses
import math
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edge_agent.storage.condition_paths import CartFacts, DeviceFacts, ProfileFacts, SessionFacts, UserFacts
from edge_agent.storage.history import HistoryEntry  # the entries as storage reads them, not a copy

__all__ = ["EvalContext", "HistoryEntry", "HistoryIndex"]


class HistoryIndex:
    """A history grouped by type, each group in time order, so a ``count`` reads only its own type's entries
    inside its window (a binary search for the window's start) instead of the whole history.

    Entries whose time is not a finite number are left out: they belong to no window.
    """

    __slots__ = ("_groups", "source")

    def __init__(self, history: Sequence[HistoryEntry]) -> None:
        self.source = history  # what the index was built from: a context with another history rebuilds it
        groups: dict[str, list[HistoryEntry]] = {}
        for entry in history:
            at = entry.at
            if isinstance(at, int | float) and not isinstance(at, bool) and math.isfinite(at):
                groups.setdefault(entry.type, []).append(entry)
        self._groups: dict[str, tuple[list[float], list[HistoryEntry]]] = {}
        for kind, entries in groups.items():
            entries.sort(key=lambda entry: entry.at)  # the storage returns them in order: a linear pass
            self._groups[kind] = ([entry.at for entry in entries], entries)

    def since(self, kind: str, cutoff: float) -> list[HistoryEntry]:
        """The entries of type ``kind`` at or after ``cutoff``, oldest first."""
        group = self._groups.get(kind)
        if group is None:
            return []
        times, entries = group
        return entries[bisect_left(times, cutoff) :]


@dataclass(slots=True)
class EvalContext:
    """Everything a condition path can reach; see bundle.md §2 for each path's meaning.

    ``segments`` answers ``{"segment": id}``; ``segment_list`` is what the ``user.segments`` path reads (a
    membership callable cannot be enumerated): the ids, or a callable returning them, so a request that never
    reads the path never evaluates every segment. Either may be None: then the profile is in no segment and
    ``user.segments`` is missing.
    """

    now: float  # unix seconds
    local_time: datetime  # aware, in the agent's time zone (time.hour, ISO time.weekday)
    user: UserFacts
    ctx: dict[str, Any]  # the request's ctx as the wire parsed it; the keys conditions read: CtxFacts
    device: DeviceFacts
    traffic_source: str | None
    session: SessionFacts
    profile: ProfileFacts
    cart: CartFacts
    history: Sequence[HistoryEntry] = ()  # the profile's history, any order
    event: dict[str, Any] | None = None  # inside EVENT triggers and count.where (for event entries)
    item: dict[str, Any] | None = None  # inside strategy filters
    segments: Callable[[str], bool] | None = None  # membership test for {"segment": id}; None = not a member
    segment_list: Sequence[str] | Callable[[], Sequence[str]] | None = None  # for the user.segments path
    # Built on the first count condition of a request and shared by the copies made from this context.
    history_index: HistoryIndex | None = field(default=None, repr=False)

    def indexed_history(self) -> HistoryIndex:
        """The index of ``history`` (built once per history, then cached on this context)."""
        index = self.history_index
        if index is None or index.source is not self.history:
            index = self.history_index = HistoryIndex(self.history)
        return index

    def with_event(self, event: dict[str, Any] | None) -> EvalContext:
        """A copy whose ``event.*`` paths read ``event`` (an EVENT trigger's event item)."""
        return dataclasses.replace(self, event=event)

    def with_item(self, item: dict[str, Any] | None) -> EvalContext:
        """A copy whose ``item.*`` paths read ``item`` (a catalog item under a strategy filter)."""
        return dataclasses.replace(self, item=item)

    def for_entry(self, entry: HistoryEntry) -> EvalContext:
        """A copy as ``count.where`` sees ``entry``: ``event.*`` is its event, ``ctx.*`` its request ctx.

        Every other path (user, device, session, ...) still reads the current request's values.
        """
        event = entry.event if isinstance(entry.event, dict) else None
        return dataclasses.replace(self, event=event, ctx=entry.ctx if isinstance(entry.ctx, dict) else {})
