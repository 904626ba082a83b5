"""One request's write: resolve identity, record what happened, queue it upstream, read what decisions need.

``track`` runs on the writer thread as a single step of a group transaction, so the profile, the
history, the outbox row and the session rotation of one call commit together or not at all.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from edge_agent.storage import decisions, history, outbox, profile_state, profiles, scores
from edge_agent.storage.profiles import Identity, IdentityRequest, SessionPolicy
from edge_agent.storage.values import parse_time, rfc3339

Kind = Literal["visit", "event", "choose", "user", "strategy"]


@dataclass(slots=True)
class HistoryItem:
    type: str
    at: float
    event: dict[str, Any]
    ctx: dict[str, Any]


@dataclass(slots=True)
class Snapshot:
    """What one request's decisions and response need, read in the same transaction as the write."""

    identity: Identity
    history: list[HistoryItem] = field(default_factory=list)
    assignments: dict[str, str] = field(default_factory=dict)
    counters: dict[str, int] | None = None
    state: profile_state.ProfileState = field(default_factory=profile_state.ProfileState)


@dataclass(slots=True)
class TrackRequest:
    kind: Kind
    sec: str
    identity: IdentityRequest
    path: str
    body: dict[str, Any]  # the original request body (replayed upstream)
    ctx: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    history_days: float = 0.0
    history_types: frozenset[str] = frozenset()
    want_counters: bool = False
    want_assignments: bool = False
    cap_day_start: float | None = None  # start of the local day: read frequency-cap counts too


def _replay_body(req: TrackRequest, identity: Identity, now: float) -> dict[str, Any]:
    """The body as the upstream should see it: the resolved user, and device/event times from ingest."""
    body = dict(req.body)
    user: dict[str, Any] = {"uid": identity.uid, "ses": identity.ses}
    if identity.custom is not None:
        user["custom"] = identity.custom
    sent_user = req.body.get("user")
    if isinstance(sent_user, dict) and isinstance(sent_user.get("attributes"), dict):
        user["attributes"] = sent_user["attributes"]
    body["user"] = user
    device = dict(body["device"]) if isinstance(body.get("device"), dict) else {}
    device.setdefault("userTime", rfc3339(now))
    if device.get("userTime") is None:
        device["userTime"] = rfc3339(now)
    body["device"] = device
    if req.kind == "event":
        body["data"] = req.events
    return body


def track(conn: sqlite3.Connection, req: TrackRequest, now: float, policy: SessionPolicy) -> Snapshot:
    identity = profiles.resolve_identity(conn, req.identity, now, policy)
    snap = Snapshot(identity=identity)
    if req.kind == "visit":
        profiles.count_visit(conn, identity)
        history.record(
            conn, uid=identity.uid, ses=identity.ses, type="visit", at=now, event=None, ctx=req.ctx
        )
    elif req.kind == "event":
        for event in req.events:
            if event.get("eventTime") is None:
                event["eventTime"] = rfc3339(now)
            at = parse_time(event["eventTime"], now)
            history.record(
                conn, uid=identity.uid, ses=identity.ses, type=event["type"], at=at, event=event, ctx=req.ctx
            )
        profiles.count_events(conn, identity, len(req.events))
    snap.state = profile_state.advance(
        conn, identity, req.kind, req.events, req.ctx, now, cap_day_start=req.cap_day_start
    )
    scores.record(
        conn, kind=req.kind, uid=identity.uid, ses=identity.ses, ctx=req.ctx, events=req.events, now=now
    )
    queue_it = req.kind in ("visit", "event") or (
        req.kind == "user" and (req.identity.attributes or req.identity.custom)
    )
    if queue_it:
        body = orjson.dumps(_replay_body(req, identity, now)).decode()
        outbox.enqueue(conn, sec=req.sec, method="POST", path=req.path, body=body, uid=identity.uid, now=now)
    if req.history_types:
        since = now - req.history_days * 86400
        snap.history = [
            HistoryItem(row["type"], row["at"], orjson.loads(row["event"]), orjson.loads(row["ctx"]))
            for row in history.for_profile(conn, identity.uid, since, req.history_types)
        ]
    if req.want_assignments:
        snap.assignments = decisions.assignments_for(conn, identity.uid)
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
