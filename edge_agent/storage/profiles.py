"""Profiles, devices and sessions: identity resolution (agent-api §3) as one writer-thread step.

Every function here runs on the writer connection inside the caller's transaction, so two parallel
cold-start calls from one device are resolved one after the other and share one uid and one session.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson

from edge_agent.storage.ids import new_session_id, new_uid

MAX_UID_LENGTH = 128


@dataclass(slots=True)
class IdentityRequest:
    """What a request says about who is calling (already tolerant-parsed)."""

    uid: str | None = None
    custom: str | None = None
    ses: str | None = None
    device_id: str | None = None  # lowercased by the caller
    attributes: dict[str, str | None] | None = None  # None value = delete the key
    traffic_source: str | None = None  # of this call, kept if it opens a session


@dataclass(slots=True)
class SessionPolicy:
    idle_timeout_s: float = 1800
    cold_start_window_s: float = 5


@dataclass(slots=True)
class Identity:
    """The resolved profile and session, as the response and the decisioning see them."""

    uid: str
    ses: str
    custom: str | None
    attributes: dict[str, str]
    central_uid: str | None
    first_seen: float
    is_new: bool  # during the profile's first session
    new_profile: bool
    new_session: bool
    session_started_at: float
    traffic_source: str | None
    visits: int
    session_pageviews: int
    session_events: int


def valid_uid(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= MAX_UID_LENGTH:
        return value
    return None


def _profile(conn: sqlite3.Connection, where: str, value: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(f"SELECT * FROM profiles WHERE {where} = ?", (value,)).fetchone()
    return row


def _create_profile(conn: sqlite3.Connection, uid: str, custom: str | None, now: float) -> sqlite3.Row:
    conn.execute(
        "INSERT INTO profiles (uid, custom, first_seen, last_seen) VALUES (?, ?, ?, ?)",
        (uid, custom, now, now),
    )
    row = _profile(conn, "uid", uid)
    assert row is not None
    return row


def _profile_for_uid_or_device(
    conn: sqlite3.Connection, req: IdentityRequest, now: float
) -> tuple[sqlite3.Row | None, bool]:
    uid = valid_uid(req.uid)
    if uid is not None:
        row = _profile(conn, "uid", uid)
        if row is not None:
            return row, False
        # An unknown uid (from the central API or an earlier install) is adopted as is.
        return _create_profile(conn, uid, None, now), True
    if req.device_id:
        dev = conn.execute("SELECT uid FROM devices WHERE device_id = ?", (req.device_id,)).fetchone()
        if dev is not None:
            return _profile(conn, "uid", dev["uid"]), False
    return None, False


def resolve_profile(conn: sqlite3.Connection, req: IdentityRequest, now: float) -> tuple[sqlite3.Row, bool]:
    """Rules 1–4 of agent-api §3. Returns the profile row and whether it was created now."""
    if req.custom:
        row = _profile(conn, "custom", req.custom)
        if row is not None:
            return row, False
        candidate, created = _profile_for_uid_or_device(conn, req, now)
        if candidate is not None and candidate["custom"] is None:
            conn.execute("UPDATE profiles SET custom = ? WHERE uid = ?", (req.custom, candidate["uid"]))
            row = _profile(conn, "uid", candidate["uid"])
            assert row is not None
            return row, created
        return _create_profile(conn, new_uid(), req.custom, now), True
    row, created = _profile_for_uid_or_device(conn, req, now)
    if row is not None:
        return row, created
    return _create_profile(conn, new_uid(), None, now), True


def _open_session(
    conn: sqlite3.Connection, uid: str, ses: str, req: IdentityRequest, now: float
) -> sqlite3.Row:
    first = conn.execute("SELECT 1 FROM sessions WHERE uid = ? LIMIT 1", (uid,)).fetchone() is None
    conn.execute(
        "INSERT INTO sessions (ses, uid, device_id, started_at, last_seen, is_first, traffic_source) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ses, uid, req.device_id, now, now, int(first), req.traffic_source or "Direct"),
    )
    row: sqlite3.Row = conn.execute("SELECT * FROM sessions WHERE ses = ?", (ses,)).fetchone()
    return row


def resolve_session(
    conn: sqlite3.Connection,
    profile: sqlite3.Row,
    req: IdentityRequest,
    now: float,
    policy: SessionPolicy,
) -> tuple[sqlite3.Row, bool]:
    """Reuse or open the session (agent-api §3 "Sessions"). Returns the row and whether it is new."""
    uid = profile["uid"]
    if req.ses:
        row = conn.execute("SELECT * FROM sessions WHERE ses = ?", (req.ses,)).fetchone()
        app_supplied = bool(req.custom)
        if row is not None and row["uid"] == uid:
            if app_supplied or now - row["last_seen"] <= policy.idle_timeout_s:
                return row, False
        elif row is None and app_supplied:
            # setUser(userId, sessionId): the app owns this session id; honour it as given.
            return _open_session(conn, uid, req.ses, req, now), True
    elif profile["current_ses"]:
        row = conn.execute("SELECT * FROM sessions WHERE ses = ?", (profile["current_ses"],)).fetchone()
        if (
            row is not None
            and req.device_id is not None
            and row["device_id"] == req.device_id
            and now - row["started_at"] < policy.cold_start_window_s
            and now - row["last_seen"] <= policy.idle_timeout_s
        ):
            return row, False
    return _open_session(conn, uid, new_session_id(), req, now), True


def merge_attributes(current: dict[str, str], changes: dict[str, str | None] | None) -> dict[str, str]:
    if not changes:
        return current
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def resolve_identity(
    conn: sqlite3.Connection,
    req: IdentityRequest,
    now: float,
    policy: SessionPolicy,
    *,
    visits: int = 0,
    events: int = 0,
) -> Identity:
    """Resolve profile and session, merge attributes, remember the device; touch last-seen times and count
    the call's ``visits`` (screen views) and ``events`` on the profile and the session, in the same two
    updates (a statement each costs the writer more than the arithmetic)."""
    profile, new_profile = resolve_profile(conn, req, now)
    session, new_session = resolve_session(conn, profile, req, now, policy)
    uid = profile["uid"]
    attributes = merge_attributes(orjson.loads(profile["attributes"]), req.attributes)
    conn.execute(
        "UPDATE profiles SET last_seen = ?, current_ses = ?, attributes = ?, visits = visits + ?, "
        "events = events + ? WHERE uid = ?",
        (now, session["ses"], orjson.dumps(attributes).decode(), visits, events, uid),
    )
    conn.execute(
        "UPDATE sessions SET last_seen = ?, pageviews = pageviews + ?, events = events + ? WHERE ses = ?",
        (now, visits, events, session["ses"]),
    )
    if req.device_id:
        conn.execute(
            "INSERT INTO devices (device_id, uid, last_seen) VALUES (?, ?, ?) "
            "ON CONFLICT(device_id) DO UPDATE SET uid = excluded.uid, last_seen = excluded.last_seen",
            (req.device_id, uid, now),
        )
    return Identity(
        uid=uid,
        ses=session["ses"],
        custom=profile["custom"],
        attributes=attributes,
        central_uid=profile["central_uid"],
        first_seen=profile["first_seen"],
        is_new=bool(session["is_first"]),
        new_profile=new_profile,
        new_session=new_session,
        session_started_at=session["started_at"],
        traffic_source=session["traffic_source"],
        visits=profile["visits"] + visits,
        session_pageviews=session["pageviews"] + visits,
        session_events=session["events"] + events,
    )


def set_central_uid(conn: sqlite3.Connection, uid: str, central_uid: str) -> None:
    conn.execute("UPDATE profiles SET central_uid = ? WHERE uid = ?", (central_uid, uid))
