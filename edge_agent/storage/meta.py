"""Small agent-wide facts in the ``meta`` table (key → text), such as the agent id.

Every function runs on a connection the caller owns: writes on the writer thread (``db.write``),
reads anywhere (``db.read``).
"""

from __future__ import annotations

import sqlite3
import uuid

AGENT_ID_KEY = "agent_id"


def get(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def put(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def ensure_agent_id(conn: sqlite3.Connection, configured: str | None = None) -> str:
    """This agent's id towards the upstream: ``configured`` (the ``agent_id`` setting) when given,
    else the id minted on the first call and stored, so it survives restarts.

    The upstream accounts ``X-Edge-Sequence`` per agent id, so the id must never change while the
    outbox keeps its ``seq`` numbering: a configured id is not written over the minted one, which
    comes back if the setting is removed. Run it on the writer (it may insert).
    """
    if configured:
        return configured
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING",
        (AGENT_ID_KEY, str(uuid.uuid4())),
    )
    stored = get(conn, AGENT_ID_KEY)
    assert stored is not None
    return stored
