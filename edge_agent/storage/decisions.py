"""Decisions, the sticky variation assignments behind them, and what frequency caps count.

A decision is keyed by ``(decisionId, campaignId)``; its contents by ``(decisionId, contentId)``, which is
how an engagement hit (which carries only those two ids) finds its decision. ``impressed_at`` is set by the
decision's first ``impression``/``visible_impression`` hit and never moved afterwards.

``route`` says which route made it. ``/choose`` allocates a variation and is what frequency caps count.
``/visit`` and ``/event`` record the campaigns their triggers fire, with no variation (the app's following
``/choose`` allocates it) and uncounted (caps are checked there, not counted). Both mint the same live
decision id, so a ``/choose`` in the same second as its trigger takes the trigger's row over.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

CHOOSE = "/choose"  # the route whose decisions allocate a variation and count for frequency caps


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
    route: str = CHOOSE


# A /choose decision replaces a trigger's row of the same key; nothing else replaces a row.
_INSERT_DECISION = (
    "INSERT INTO decisions (decision_id, campaign_id, experience_id, variation_id, uid, ses, at, control, "
    "route) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(decision_id, campaign_id) DO UPDATE SET "
    "experience_id = excluded.experience_id, variation_id = excluded.variation_id, "
    "control = excluded.control, route = excluded.route "
    f"WHERE excluded.route = '{CHOOSE}' AND decisions.route <> '{CHOOSE}'"
)


def record(conn: sqlite3.Connection, decisions: list[Decision]) -> None:
    conn.executemany(
        _INSERT_DECISION,
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
                d.route,
            )
            for d in decisions
        ],
    )
    conn.executemany(
        "INSERT OR IGNORE INTO decision_contents (decision_id, content_id, campaign_id) VALUES (?, ?, ?)",
        [(d.decision_id, cid, d.campaign_id) for d in decisions for cid in d.content_ids],
    )


def prune_triggers(conn: sqlite3.Connection, before: float) -> int:
    """Forget trigger rows older than ``before``: caps never count them; the page shows recent ones only."""
    return conn.execute("DELETE FROM decisions WHERE route <> ? AND at < ?", (CHOOSE, before)).rowcount


def decision_exists(conn: sqlite3.Connection, decision_id: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM decisions WHERE decision_id = ? LIMIT 1", (decision_id,)).fetchone()
        is not None
    )


def engagement_hit(
    conn: sqlite3.Connection, decision_id: str, content_id: str, impression: bool, now: float
) -> bool:
    """Join a hit to its decision; an impression hit marks the decision impressed (first hit only).

    Returns whether the hit belongs to a known decision: by ``(decisionId, contentId)`` when the hit names
    a content, else by ``decisionId`` alone.
    """
    if not content_id:
        return decision_exists(conn, decision_id)
    row = conn.execute(
        "SELECT campaign_id FROM decision_contents WHERE decision_id = ? AND content_id = ?",
        (decision_id, content_id),
    ).fetchone()
    if row is None:
        return False
    if impression:
        conn.execute(
            "UPDATE decisions SET impressed_at = ? "
            "WHERE decision_id = ? AND campaign_id = ? AND impressed_at IS NULL",
            (now, decision_id, row["campaign_id"]),
        )
    return True


def assignments_for(conn: sqlite3.Connection, uid: str) -> dict[str, str]:
    """experience id → variation id already assigned to this profile."""
    return {
        row["experience_id"]: row["variation_id"]
        for row in conn.execute("SELECT experience_id, variation_id FROM assignments WHERE uid = ?", (uid,))
    }


def assign(conn: sqlite3.Connection, uid: str, experience_id: str, variation_id: str, now: float) -> None:
    """Store the profile's variation of an experience.

    Callers assign only when the profile has no stored variation, or when its stored variation is no longer
    in the bundle; that is the one case an assignment is replaced. Weight changes never reach here, so a
    profile keeps its variation when weights change.
    """
    conn.execute(
        "INSERT INTO assignments (uid, experience_id, variation_id, assigned_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(uid, experience_id) DO UPDATE SET variation_id = excluded.variation_id, "
        "assigned_at = excluded.assigned_at",
        (uid, experience_id, variation_id, now),
    )


def recent(conn: sqlite3.Connection, limit: int = 20) -> list[dict[str, Any]]:
    """The latest decisions of every route, newest first, for the operator page."""
    return [
        dict(row)
        for row in conn.execute(
            "SELECT at, route, decision_id, campaign_id, experience_id, variation_id, control, impressed_at "
            "FROM decisions ORDER BY at DESC LIMIT ?",
            (limit,),
        )
    ]


def summary(conn: sqlite3.Connection, since: float) -> tuple[int, float | None]:
    """How many decisions of every route were made at or after ``since``, and when the last one was."""
    count = conn.execute("SELECT COUNT(*) FROM decisions WHERE at >= ?", (since,)).fetchone()[0]
    last = conn.execute("SELECT MAX(at) FROM decisions").fetchone()[0]
    return int(count), last
