"""The outbox: every accepted visit, event, user change and engagement hit, queued for the upstream.

A row is written in the same transaction as the local effect, so a 200 always means "queued".
``id`` is a UUIDv7 (the Idempotency-Key); ``seq`` is AUTOINCREMENT, so it is never reused even after
delivered rows are pruned, and the upstream can tell a gap from a duplicate.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from edge_agent.storage.ids import new_row_id


@dataclass(slots=True, frozen=True)
class Queued:
    id: str
    seq: int


def enqueue(
    conn: sqlite3.Connection,
    *,
    sec: str,
    method: str,
    path: str,
    body: str,
    uid: str | None,
    now: float,
) -> Queued:
    """Queue one upstream call. ``body`` is the JSON body (POST) or the query string (GET)."""
    row_id = new_row_id()
    cur = conn.execute(
        "INSERT INTO outbox (id, sec, method, path, body, uid, bytes, received_at, next_attempt_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (row_id, sec, method, path, body, uid, len(body.encode()), now, now),
    )
    assert cur.lastrowid is not None
    return Queued(id=row_id, seq=cur.lastrowid)


def queue_summary(conn: sqlite3.Connection, now: float) -> dict[str, float | int | None]:
    """``{pending, delivered, dead, oldestPendingAgeSeconds, bytes}`` (bytes of rows not yet delivered)."""
    counts = {state: 0 for state in ("pending", "delivered", "dead")}
    for row in conn.execute("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state"):
        counts[row["state"]] = row["n"]
    oldest = conn.execute("SELECT MIN(received_at) FROM outbox WHERE state = 'pending'").fetchone()[0]
    size = conn.execute("SELECT COALESCE(SUM(bytes), 0) FROM outbox WHERE state != 'delivered'").fetchone()[0]
    return {
        "pending": counts["pending"],
        "delivered": counts["delivered"],
        "dead": counts["dead"],
        "oldestPendingAgeSeconds": None if oldest is None else max(0.0, now - oldest),
        "bytes": size,
    }
