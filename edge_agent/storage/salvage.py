"""Read what is readable of a damaged database: its outbox rows, its agent id and last ``seq``.

A copy of the file and its ``-wal`` is read (the moved file itself is never written), and
the outbox is walked by ``seq`` ranges: a range that fails to read is split in halves down to single
rows, so a damaged page costs only the rows on it. A ``seq`` that still fails on its own is counted
``unreadable`` (a row on a damaged page, or a gap among them).

:func:`salvage_into` queues the readable rows that were not yet delivered again, in ``seq`` order and with
their original ``id`` (the Idempotency-Key), so the upstream deduplicates anything it already has and a
second salvage adds nothing (``present``).
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent.storage import meta
from edge_agent.storage.files import side_files
from edge_agent.storage.outbox_admin import queue_again, queue_values

CHUNK = 256
_SELECT = "SELECT seq, id, sec, method, path, body, uid, received_at, state FROM outbox"
_ROWS_SQL = _SELECT + " WHERE seq BETWEEN ? AND ? ORDER BY seq"
_ROW_SQL = _SELECT + " WHERE seq = ?"


class SalvageError(Exception):
    """Nothing can be read from the file (not a database, no outbox, no way to bound it)."""


@dataclass(slots=True)
class Salvaged:
    rows: list[dict[str, Any]] = field(default_factory=list)  # readable, not delivered, in seq order
    unreadable: int = 0
    delivered: int = 0  # readable rows the upstream already had: not queued again


@dataclass(slots=True, frozen=True)
class SalvageResult:
    salvaged: int
    present: int  # the id is already in the live queue
    unreadable: int
    delivered: int

    def as_dict(self) -> dict[str, int]:
        return {
            "salvaged": self.salvaged,
            "present": self.present,
            "unreadable": self.unreadable,
            "delivered": self.delivered,
        }


@contextmanager
def open_damaged(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection on a copy of ``path`` and its ``-wal`` (the last commits may live there), so the
    moved-aside file itself is never written, not even its ``-shm``."""
    with tempfile.TemporaryDirectory(prefix="edge-agent-salvage-", dir=path.parent) as tmp:
        copy = Path(tmp) / "damaged.db"
        for src, dst in zip(side_files(path)[:2], side_files(copy)[:2], strict=True):
            if src.exists():
                shutil.copyfile(src, dst)
        conn = sqlite3.connect(copy, isolation_level=None)  # our copy: may replay its WAL
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        finally:
            conn.close()


def _scalar(conn: sqlite3.Connection, sql: str) -> Any:
    try:
        row = conn.execute(sql).fetchone()
    except sqlite3.DatabaseError:
        return None
    return None if row is None else row[0]


def last_seq(conn: sqlite3.Connection) -> int | None:
    """The highest ``seq`` handed out: AUTOINCREMENT's record, else the table's last row."""
    for sql in ("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'", "SELECT MAX(seq) FROM outbox"):
        value = _scalar(conn, sql)
        if isinstance(value, int):
            return value
    return None


def carried_over(path: Path) -> tuple[str | None, int | None]:
    """``(agent_id, last_seq)`` of a moved-aside file, if readable, so a fresh database continues them."""
    try:
        with open_damaged(path) as conn:
            agent_id = _scalar(conn, f"SELECT value FROM meta WHERE key = '{meta.AGENT_ID_KEY}'")
            return (agent_id if isinstance(agent_id, str) else None), last_seq(conn)
    except (sqlite3.Error, OSError):
        return None, None


def continue_from(conn: sqlite3.Connection, agent_id: str | None, seq: int | None) -> None:
    """In a fresh database: keep the old agent id and let ``seq`` go on after the old one (writer)."""
    if agent_id:
        meta.put(conn, meta.AGENT_ID_KEY, agent_id)
    if seq:
        conn.execute("DELETE FROM sqlite_sequence WHERE name = 'outbox'")
        conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (seq,))


def _walk(conn: sqlite3.Connection, lo: int, hi: int, out: Salvaged) -> Iterator[sqlite3.Row]:
    try:
        # One seq is a point lookup: a range scan steps onto the next page, which may be the damaged one.
        rows = conn.execute(*((_ROW_SQL, (lo,)) if lo == hi else (_ROWS_SQL, (lo, hi)))).fetchall()
    except sqlite3.DatabaseError:
        if lo == hi:
            out.unreadable += 1
            return
        mid = (lo + hi) // 2
        yield from _walk(conn, lo, mid, out)
        yield from _walk(conn, mid + 1, hi, out)
        return
    yield from rows


def read_outbox(path: Path) -> Salvaged:
    """Every readable outbox row of ``path``; raises SalvageError when none can be."""
    out = Salvaged()
    try:
        with open_damaged(path) as conn:
            _read_into(conn, path, out)
    except (sqlite3.Error, OSError) as exc:
        raise SalvageError(f"cannot read {path}: {exc}") from None
    return out


def _read_into(conn: sqlite3.Connection, path: Path, out: Salvaged) -> None:
    top = last_seq(conn)
    if top is None:
        raise SalvageError(f"{path}: no readable outbox")
    for lo in range(1, top + 1, CHUNK):
        for r in _walk(conn, lo, min(lo + CHUNK - 1, top), out):
            if r["state"] == "delivered":
                out.delivered += 1
                continue
            record = {
                "id": r["id"], "sec": r["sec"], "method": r["method"], "path": r["path"],
                "body": r["body"], "uid": r["uid"], "receivedAt": r["received_at"],
            }  # fmt: skip
            if queue_values(record) is None:  # readable, but not a row any more
                out.unreadable += 1
            else:
                out.rows.append(record)


def salvage_into(conn: sqlite3.Connection, found: Salvaged, now: float) -> SalvageResult:
    """Queue ``found``'s rows in the live outbox (one transaction: run it in ``db.write``)."""
    salvaged = present = 0
    for record in found.rows:
        values = queue_values(record)
        assert values is not None  # read_outbox kept only rows that are
        if queue_again(conn, values, now):
            salvaged += 1
        else:
            present += 1
    return SalvageResult(salvaged, present, found.unreadable, found.delivered)
