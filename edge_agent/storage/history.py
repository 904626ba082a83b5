"""The profile's event history: what segments, counts and recommendations are computed from."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(slots=True)
class HistoryEntry:
    """One past ``/visit`` or ``/event`` item of the profile, as ``count`` conditions see it."""

    type: str  # event type, or "visit" for /visit calls
    at: float  # unix seconds (event time)
    event: dict[str, Any] | None  # the event item ({} for visits); None when read without its body
    ctx: dict[str, Any] | None  # the request ctx the entry came with; None when read without its body


def record(
    conn: sqlite3.Connection,
    *,
    uid: str,
    ses: str,
    type: str,
    at: float,
    event: dict[str, Any] | None,
    ctx: dict[str, Any] | None,
) -> int:
    cur = conn.execute(
        "INSERT INTO history (uid, ses, type, at, event, ctx) VALUES (?, ?, ?, ?, ?, ?)",
        (uid, ses, type, at, orjson.dumps(event or {}).decode(), orjson.dumps(ctx or {}).decode()),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def for_profile(
    conn: sqlite3.Connection,
    uid: str,
    since: float,
    types: Collection[str] | None = None,
    bodies: Collection[str] | None = None,
) -> list[HistoryEntry]:
    """The profile's entries since ``since``, oldest first; only ``types`` when given. Only entries of the
    ``bodies`` types (every type when None) carry their event and ctx: decoding them is most of the read,
    and a ``count`` without ``where`` reads only the times."""
    params: list[Any] = []
    body = "1"
    if bodies is not None:
        body = f"type IN ({','.join('?' * len(bodies))})"
        params.extend([*bodies, *bodies])
    sql = (
        f"SELECT type, at, CASE WHEN {body} THEN event END, CASE WHEN {body} THEN ctx END "
        "FROM history WHERE uid = ? AND at >= ?"
    )
    params.extend((uid, since))
    if types is not None:
        sql += f" AND type IN ({','.join('?' * len(types))})"
        params.extend(types)
    cur = conn.cursor()
    cur.row_factory = None  # plain tuples: a Row per entry costs more than the read itself
    return [
        HistoryEntry(
            kind,
            at,
            None if event is None else orjson.loads(event),
            None if ctx is None else orjson.loads(ctx),
        )
        for kind, at, event, ctx in cur.execute(sql + " ORDER BY at, id", params)
    ]


def counters(conn: sqlite3.Connection, uid: str) -> dict[str, int]:
    """Events by type for ``options.isReturnCounter`` (visits are not events)."""
    return {
        row["type"]: row["n"]
        for row in conn.execute(
            "SELECT type, COUNT(*) AS n FROM history WHERE uid = ? AND type != 'visit' GROUP BY type",
            (uid,),
        )
    }
