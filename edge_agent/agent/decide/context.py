"""What a compiled condition is evaluated against (bundle.md §2).

The request handlers build one :class:`EvalContext` per request from the profile, the session and the request;
compiled predicates only read it. Missing keys and ``None`` values mean "missing" everywhere, so a builder may
leave out whatever it does not know.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class HistoryEntry:
    """One past ``/visit`` or ``/event`` item of the profile, as ``count`` conditions see it."""

    type: str  # event type, or "visit" for /visit calls
    at: float  # unix seconds (event time)
    event: dict[str, Any]  # the event item for /event entries ({} for visits)
    ctx: dict[str, Any]  # the request ctx the entry came with


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
    user: dict[str, Any]  # {"uid", "custom", "attributes": {str: str}, "isNew": bool}
    ctx: dict[str, Any]  # the request's ctx: type, data, location, lng, referrer, pageNumber, utm, attributes
    device: dict[str, Any]  # {"type", "os", "browser", "tracking", "permission"}
    traffic_source: str | None
    session: dict[str, Any]  # {"pageviews", "events", "ageSeconds"}
    profile: dict[str, Any]  # {"visits", "daysSinceFirstSeen", "daysSinceLastPurchase", "purchaseValue"}
    cart: dict[str, Any]  # {"value", "items"}
    history: Sequence[HistoryEntry] = ()  # the profile's history, any order
    event: dict[str, Any] | None = None  # inside EVENT triggers and count.where (for event entries)
    item: dict[str, Any] | None = None  # inside strategy filters
    segments: Callable[[str], bool] | None = None  # membership test for {"segment": id}; None = not a member
    segment_list: Sequence[str] | Callable[[], Sequence[str]] | None = None  # for the user.segments path

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
        return dataclasses.replace(self, event=entry.event, ctx=entry.ctx)
