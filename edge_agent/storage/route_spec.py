"""What an SDK route means to every layer below the handler: the one description ``tracking``, the caps and
the decisioning read, so no layer tells routes apart by a name or a path.

``agent/routes/table.py`` builds each SDK entry from a :class:`RouteSpec`; storage never imports aiohttp
or the agent, so the spec lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal


class Records(Enum):
    """What the route's tracking write adds to the profile's history and state."""

    VISIT = "visit"  # one screen view: a history row, the visit count, a product view when it is one
    EVENTS = "events"  # the request's events: history rows, the event count, cart/purchase state, scores
    IDENTITY = "identity"  # only who is calling: profile, session, attributes
    NOTHING = "nothing"  # identity is resolved to answer, nothing is recorded about the call


class Replay(Enum):
    """Whether the request is queued for the upstream (replayed as sent, with the resolved user)."""

    ALWAYS = "always"
    WITH_IDENTITY = "with-identity"  # only when it carries attributes or a custom id to store upstream
    NEVER = "never"


#: A bundle trigger type (bundle.md §4): what a visit or an event fires.
Trigger = Literal["PAGELOAD", "EVENT"]


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """What decisions a route makes follows from ``trigger`` (the campaigns it fires, recorded with no
    variation) and ``assignments`` (content with a variation). Which stored decisions caps count is the
    rows' ``route`` column (``storage/decisions.py``): a count spans rows other routes wrote."""

    path: str  # the canonical SDK path: the replayed request's path and the decisions' ``route``
    records: Records
    replay: Replay
    capped: bool = False  # its decisions check frequency caps: the write reads the cap counts
    assignments: bool = False  # its decisions allocate variations: the write reads sticky assignments
    trigger: Trigger | None = None  # the trigger type whose campaigns it answers

    @property
    def may_replay(self) -> bool:
        """Whether a call may be queued, so its body as sent must be kept for the replay."""
        return self.replay is not Replay.NEVER

    def queues(self, sends_identity: bool) -> bool:
        """Whether this call is queued for the upstream; ``sends_identity``: it carries attributes or a
        custom id."""
        return self.replay is Replay.ALWAYS or (self.replay is Replay.WITH_IDENTITY and sends_identity)
