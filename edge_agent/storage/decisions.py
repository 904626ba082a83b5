"""Decisions made by /choose and the sticky variation assignments behind them."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class Decision:
    decision_id: str
    campaign_id: str
    experience_id: str
    variation_id: str
    uid: str
    ses: str
    at: float
    control: bool
    content_ids: tuple[str, ...] = ()


def record(conn: sqlite3.Connection, decisions: list[Decision]) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO decisions (decision_id, campaign_id, experience_id, variation_id, uid, ses, "
        "at, control) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                d.decision_id,
                d.campaign_id,
                d.experience_id,
                d.variation_id,
                d.uid,
                d.ses,
                d.at,
                int(d.control),
            )
            for d in decisions
        ],
    )
    conn.executemany(
        "INSERT OR IGNORE INTO decision_contents (decision_id, content_id, campaign_id) VALUES (?, ?, ?)",
        [(d.decision_id, cid, d.campaign_id) for d in decisions for cid in d.content_ids],
    )


def decision_exists(conn: sqlite3.Connection, decision_id: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM decisions WHERE decision_id = ? LIMIT 1", (decision_id,)).fetchone()
        is not None
    )


def assignments_for(conn: sqlite3.Connection, uid: str) -> dict[str, str]:
    """experience id → variation id already assigned to this profile."""
    return {
        row["experience_id"]: row["variation_id"]
        for row in conn.execute("SELECT experience_id, variation_id FROM assignments WHERE uid = ?", (uid,))
    }


def assign(conn: sqlite3.Connection, uid: str, experience_id: str, variation_id: str, now: float) -> None:
    """First assignment wins: a later call never moves a profile to another variation."""
    conn.execute(
        "INSERT OR IGNORE INTO assignments (uid, experience_id, variation_id, assigned_at) "
        "VALUES (?, ?, ?, ?)",
        (uid, experience_id, variation_id, now),
    )
