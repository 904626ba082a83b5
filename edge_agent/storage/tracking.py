"""One request's write: resolve identity, record what happened, queue it upstream, read what decisions need.

``track`` runs on the writer thread as a single step of a group transaction, so the profile, the
history, the outbox row and the session rotation of one call commit together or not at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, Protocol

import orjson

from edge_agent.storage import caps, decisions, history, outbox, profile_state, profiles, scores
from edge_agent.storage.caps import CapCounts
from edge_agent.storage.event_types import VISIT_HISTORY_TYPE, TrackedEvent, viewed_product
from edge_agent.storage.history import HistoryEntry
from edge_agent.storage.profiles import Identity, IdentityRequest, SessionPolicy
from edge_agent.storage.route_spec import Records, RouteSpec
from edge_agent.storage.values import parse_time, rfc3339


class Page(Protocol):
    """The request's ``ctx`` as validated: what the product-view rule reads."""

    @property
    def type(self) -> str | None: ...
    @property
    def data(self) -> Sequence[str] | None: ...


@dataclass(slots=True)
class Snapshot:
    """What one request's decisions and response need, read in the same transaction as the write."""

    identity: Identity
    history: list[HistoryEntry] = field(default_factory=list)
    assignments: dict[str, str] = field(default_factory=dict)
    counters: dict[str, int] | None = None
    state: profile_state.ProfileState = field(default_factory=profile_state.ProfileState)
    caps: dict[str, CapCounts] = field(default_factory=dict)  # campaignId → counts (capped routes)


@dataclass(slots=True)
class TrackRequest:
    spec: RouteSpec
    sec: str
    identity: IdentityRequest
    body: dict[str, Any] | None  # the request body as sent, when the route may replay it
    page: Page
    ctx: dict[str, Any]  # ``ctx`` as recorded in the history
    events: Sequence[TrackedEvent] = ()
    sent_events: list[dict[str, Any]] = field(default_factory=list)  # the same events as sent, for the record
    history_days: float = 0.0
    history_types: frozenset[str] = frozenset()
    history_bodies: frozenset[str] = frozenset()  # the types whose entries' event and ctx are read
    want_counters: bool = False
    tz: tzinfo | None = None  # ``decision.timezone``: where the per-day caps' day starts
    capped: frozenset[str] = frozenset()  # the capped campaigns the request may decide: their counts are read


def _replay_body(req: TrackRequest, identity: Identity, received: str) -> dict[str, Any]:
    """The body as the upstream should see it: the resolved user, and device/event times from ingest."""
    sent = req.body or {}
    body = dict(sent)
    user: dict[str, Any] = {"uid": identity.uid, "ses": identity.ses}
    if identity.custom is not None:
        user["custom"] = identity.custom
    sent_user = sent.get("user")
    if isinstance(sent_user, dict) and isinstance(sent_user.get("attributes"), dict):
        user["attributes"] = sent_user["attributes"]
    body["user"] = user
    device = dict(body["device"]) if isinstance(body.get("device"), dict) else {}
    if device.get("userTime") is None:
        device["userTime"] = received
    body["device"] = device
    if req.spec.records is Records.EVENTS:
        body["data"] = req.sent_events
    return body


def _record_events(
    conn: sqlite3.Connection, req: TrackRequest, identity: Identity, now: float, received: str
) -> list[tuple[TrackedEvent, float]]:
    """History rows for the request's events, each stamped with ``eventTime`` (``received``, the receipt
    time as sent upstream) when the app sent none."""
    timed = []
    received_at: float | None = None  # ``received`` read back, as a stamped event's time
    for event, sent in zip(req.events, req.sent_events, strict=True):
        if sent.get("eventTime") is None:
            sent["eventTime"] = received
            if received_at is None:
                received_at = parse_time(received, now)
            at = received_at
        else:
            at = parse_time(sent["eventTime"], now)
        history.record(
            conn, uid=identity.uid, ses=identity.ses, type=event.type, at=at, event=sent, ctx=req.ctx
        )
        timed.append((event, at))
    return timed


def track(conn: sqlite3.Connection, req: TrackRequest, now: float, policy: SessionPolicy) -> Snapshot:
    spec = req.spec
    visits = 1 if spec.records is Records.VISIT else 0
    events = len(req.events) if spec.records is Records.EVENTS else 0
    identity = profiles.resolve_identity(conn, req.identity, now, policy, visits=visits, events=events)
    snap = Snapshot(identity=identity)
    # The receipt time, stamped where the app sent none (event times, the replay's device time).
    received = rfc3339(now) if spec.may_replay or spec.records is Records.EVENTS else ""
    viewed: str | None = None
    timed: list[tuple[TrackedEvent, float]] = []
    if spec.records is Records.VISIT:
        history.record(
            conn, uid=identity.uid, ses=identity.ses, type=VISIT_HISTORY_TYPE, at=now, event=None, ctx=req.ctx
        )
        viewed = viewed_product(req.page.type, req.page.data)
    elif spec.records is Records.EVENTS:
        timed = _record_events(conn, req, identity, now, received)
    snap.state = profile_state.advance(conn, identity, now, viewed=viewed, events=timed)
    scores.record(conn, uid=identity.uid, ses=identity.ses, viewed=viewed, events=timed, now=now)
    if spec.queues(sends_identity=bool(req.identity.attributes or req.identity.custom)):
        body = orjson.dumps(_replay_body(req, identity, received)).decode()
        outbox.enqueue(conn, sec=req.sec, method="POST", path=spec.path, body=body, uid=identity.uid, now=now)
    if req.history_types:
        since = now - req.history_days * 86400
        snap.history = history.for_profile(conn, identity.uid, since, req.history_types, req.history_bodies)
    if spec.assignments:
        snap.assignments = decisions.assignments_for(conn, identity.uid)
    if spec.capped:
        day = caps.day_start(now, req.tz)
        snap.caps = caps.counts(conn, identity.uid, identity.ses, day, req.capped)
    if req.want_counters:
        snap.counters = history.counters(conn, identity.uid)
    return snap


def record_decisions(
    conn: sqlite3.Connection,
    made: list[decisions.Decision],
    new_assignments: list[tuple[str, str]],
    uid: str,
    now: float,
) -> None:
    decisions.record(conn, made)
    for experience_id, variation_id in new_assignments:
        decisions.assign(conn, uid, experience_id, variation_id, now)
