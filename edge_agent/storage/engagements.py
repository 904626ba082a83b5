"""Engagement hits (agent-api §5): recorded durably, de-duplicated within a short window."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

DEDUP_WINDOW_S = 5.0


@dataclass(slots=True, frozen=True)
class Hit:
    type: str
    decision_id: str
    content_id: str
    slot_id: str
    str_id: str | None
    query: str


def is_duplicate(conn: sqlite3.Connection, hit: Hit, now: float) -> bool:
    row = conn.execute(
        "SELECT 1 FROM engagements WHERE type = ? AND decision_id = ? AND content_id = ? AND slot_id = ? "
        "AND received_at >= ? LIMIT 1",
        (hit.type, hit.decision_id, hit.content_id, hit.slot_id, now - DEDUP_WINDOW_S),
    ).fetchone()
    return row is not None


def record(conn: sqlite3.Connection, hit: Hit, now: float, *, known_decision: bool) -> int:
    cur = conn.execute(
        "INSERT INTO engagements (type, decision_id, content_id, slot_id, str_id, query, received_at, "
        "known_decision) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            hit.type,
            hit.decision_id,
            hit.content_id,
            hit.slot_id,
            hit.str_id,
            hit.query,
            now,
            int(known_decision),
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def recent(conn: sqlite3.Connection, limit: int = 10) -> list[dict[str, Any]]:
    """The latest hits, newest first, with the campaign of the decision content they joined (if any)."""
    return [
        dict(row)
        for row in conn.execute(
            "SELECT e.received_at, e.type, e.decision_id, e.content_id, e.known_decision, dc.campaign_id "
            "FROM engagements e LEFT JOIN decision_contents dc "
            "ON dc.decision_id = e.decision_id AND dc.content_id = e.content_id "
            "ORDER BY e.id DESC LIMIT ?",
            (limit,),
        )
    ]
