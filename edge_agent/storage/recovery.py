"""A corrupt database is moved aside and replaced; the move is recorded in the new one until acknowledged.

:func:`move_aside` renames the file and its ``-wal``/``-shm`` to ``<name>.corrupt-<UTC time>`` (plus the
suffix), never over an existing file. The record (``meta`` key ``storage_incidents``, a JSON list) is what
``/status`` shows under ``storage.incidents`` until an operator acknowledges it (``POST
/admin/storage/acknowledge`` or ``edge-agent storage acknowledge``). ``edge-agent queue salvage FILE``
(``storage/salvage.py``) brings the readable outbox rows of the moved file back.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from edge_agent.storage import meta
from edge_agent.storage.files import SIDE_SUFFIXES

INCIDENTS_KEY = "storage_incidents"


def aside_path(db_path: Path, now: float) -> Path:
    """``<name>.corrupt-20261202T171500Z`` beside ``db_path`` (``-2``, ``-3``… if that name is taken)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    base = db_path.with_name(f"{db_path.name}.corrupt-{stamp}")
    candidate, n = base, 1
    while any(candidate.with_name(candidate.name + s).exists() for s in ("", *SIDE_SUFFIXES)):
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def move_aside(db_path: Path, now: float) -> Path:
    """Rename the database and its side files out of the way; returns the new database path."""
    dest = aside_path(db_path, now)
    for suffix in ("", *SIDE_SUFFIXES):
        src = db_path.with_name(db_path.name + suffix)
        if src.exists():
            src.rename(dest.with_name(dest.name + suffix))
    return dest


def _load(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    raw = meta.get(conn, INCIDENTS_KEY)
    items = json.loads(raw) if raw else []
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def record(conn: sqlite3.Connection, *, original: Path, moved_to: Path, reason: str, now: float) -> None:
    items = _load(conn)
    items.append(
        {"at": now, "path": str(original), "movedTo": str(moved_to), "reason": reason, "acknowledgedAt": None}
    )
    meta.put(conn, INCIDENTS_KEY, json.dumps(items))


def open_incidents(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Moves not yet acknowledged, oldest first."""
    return [i for i in _load(conn) if i.get("acknowledgedAt") is None]


def acknowledge(conn: sqlite3.Connection, now: float) -> int:
    """Mark every open incident acknowledged; returns how many. Run it on the writer."""
    items = _load(conn)
    count = 0
    for item in items:
        if item.get("acknowledgedAt") is None:
            item["acknowledgedAt"] = now
            count += 1
    if count:
        meta.put(conn, INCIDENTS_KEY, json.dumps(items))
    return count
