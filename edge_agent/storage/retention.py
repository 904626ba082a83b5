"""Forgetting what decisioning no longer needs: history, scores, engagement hits and the campaigns /visit
and /event triggers fired, older than ``retention.history_days``. Outbox rows have their own rules
(``outbox_admin``: bounds and delivered retention); /choose decisions and sticky assignments are kept, since
per-user caps and stickiness have no window.
"""

from __future__ import annotations

import sqlite3

from edge_agent.storage import decisions, scores

DAY = 86400.0


def prune(conn: sqlite3.Connection, now: float, history_days: float) -> dict[str, int]:
    """Delete rows older than ``history_days``; returns how many per table (scores: not counted)."""
    before = now - history_days * DAY
    removed = {
        "history": conn.execute("DELETE FROM history WHERE at < ?", (before,)).rowcount,
        "engagements": conn.execute("DELETE FROM engagements WHERE received_at < ?", (before,)).rowcount,
        "triggers": decisions.prune_triggers(conn, before),
    }
    scores.prune(conn, before)
    return removed
