"""The profile's event history: what segments, counts and recommendations are computed from."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from typing import Any

import orjson


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
    conn: sqlite3.Connection, uid: str, since: float, types: Collection[str] | None = None
) -> list[sqlite3.Row]:
    """The profile's entries since ``since``, oldest first; only ``types`` when given."""
    sql = "SELECT type, at, event, ctx, ses FROM history WHERE uid = ? AND at >= ?"
    params: list[Any] = [uid, since]
    if types is not None:
        sql += f" AND type IN ({','.join('?' * len(types))})"
        params.extend(types)
    return list(conn.execute(sql + " ORDER BY at, id", params))


def counters(conn: sqlite3.Connection, uid: str) -> dict[str, int]:
    """Events by type for ``options.isReturnCounter`` (visits are not events)."""
    return {
        row["type"]: row["n"]
        for row in conn.execute(
            "SELECT type, COUNT(*) AS n FROM history WHERE uid = ? AND type != 'visit' GROUP BY type",
            (uid,),
        )
    }
