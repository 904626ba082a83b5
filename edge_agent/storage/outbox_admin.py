"""Keeping the outbox bounded, and the operator's commands on it.

Bounds (upstream.md §1): rows, bytes and age. Hitting the rows or bytes bound evicts the oldest
*delivered* rows first, then the oldest *dead* rows; **pending rows are only evicted by the age bound**
or by an explicit :func:`purge`. Delivered rows are pruned after ``retention.delivered_days``
(:func:`prune_delivered`), which is retention, not loss.

Operator commands (``edge-agent queue …`` and ``/admin/sync``): :func:`list_rows`,
:func:`dead_letter_rows`, :func:`retry_dead`, :func:`purge`, :func:`export_pending`,
:func:`import_rows`. Every function takes a connection: run writes in ``db.write`` and reads in
``db.read``; none of them commits on its own.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson

EXPORT_FORMAT = "edge-agent-outbox/1"
"""First line of an export file; :func:`import_rows` refuses other formats."""

RowState = Literal["pending", "delivered", "dead"]


class TextSink(Protocol):
    """Where an export goes: a text file, or anything with ``write(str)``."""

    def write(self, text: str, /) -> int: ...


DropReason = Literal["age", "rows", "bytes", "operator"]


@dataclass(slots=True, frozen=True)
class Footprint:
    rows: int
    bytes: int
    oldest_received_at: float | None


def footprint(conn: sqlite3.Connection) -> Footprint:
    """Every row and byte the outbox holds, whatever the state (what the bounds limit)."""
    rows, size, oldest = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(bytes), 0), MIN(received_at) FROM outbox"
    ).fetchone()
    return Footprint(rows, size, oldest)


def over_bounds(fp: Footprint, *, now: float, max_rows: int, max_bytes: int, max_age_s: float) -> bool:
    """True when :func:`enforce_bounds` has something to do (a cheap check on a read connection)."""
    too_old = fp.oldest_received_at is not None and fp.oldest_received_at < now - max_age_s
    return too_old or fp.rows > max_rows or fp.bytes > max_bytes


def _evict_oldest(conn: sqlite3.Connection, *, rows: int, size: int) -> int:
    """Delete the oldest delivered, then dead, rows until ``rows`` rows and ``size`` bytes are freed.

    Never touches pending rows. Returns the rows deleted.
    """
    deleted = 0
    for state in ("delivered", "dead"):
        if rows <= 0 and size <= 0:
            break
        freed_rows = freed_bytes = 0
        last_seq = None
        for seq, nbytes in conn.execute(
            "SELECT seq, bytes FROM outbox WHERE state = ? ORDER BY seq", (state,)
        ):
            if freed_rows >= rows and freed_bytes >= size:
                break
            freed_rows += 1
            freed_bytes += nbytes
            last_seq = seq
        if last_seq is not None:
            conn.execute("DELETE FROM outbox WHERE state = ? AND seq <= ?", (state, last_seq))
            deleted += freed_rows
            rows -= freed_rows
            size -= freed_bytes
    return deleted


def enforce_bounds(
    conn: sqlite3.Connection, *, now: float, max_rows: int, max_bytes: int, max_age_s: float
) -> Counter[DropReason]:
    """Evict what the bounds require; returns the rows evicted by reason (``age``, ``rows``, ``bytes``).

    Age first (any state: a row older than ``max_age_s`` is dropped even if pending — the only bound
    that loses data), then rows, then bytes, each by :func:`_evict_oldest`. If pending rows alone exceed
    the rows or bytes bound the queue stays over it: ingestion is never refused by the bound.
    """
    dropped: Counter[DropReason] = Counter()
    cur = conn.execute("DELETE FROM outbox WHERE received_at < ?", (now - max_age_s,))
    if cur.rowcount > 0:
        dropped["age"] = cur.rowcount
    fp = footprint(conn)
    if fp.rows > max_rows:
        dropped["rows"] = _evict_oldest(conn, rows=fp.rows - max_rows, size=0)
        fp = footprint(conn)
    if fp.bytes > max_bytes:
        dropped["bytes"] = _evict_oldest(conn, rows=0, size=fp.bytes - max_bytes)
    return +dropped


def prune_delivered(conn: sqlite3.Connection, *, before: float) -> int:
    """Delete delivered rows delivered before ``before``; returns how many."""
    return conn.execute(
        "DELETE FROM outbox WHERE state = 'delivered' AND delivered_at < ?", (before,)
    ).rowcount


# -- operator commands ----------------------------------------------------------------------------

_COLUMNS = (
    "seq, id, sec, method, path, uid, bytes, received_at, attempts, next_attempt_at, state,"
    " last_status, last_error, delivered_at"
)


def _row_dict(r: sqlite3.Row, with_body: bool) -> dict[str, Any]:
    out = {
        "seq": r["seq"], "id": r["id"], "sec": r["sec"], "method": r["method"], "path": r["path"],
        "uid": r["uid"], "bytes": r["bytes"], "receivedAt": r["received_at"], "attempts": r["attempts"],
        "nextAttemptAt": r["next_attempt_at"], "state": r["state"], "lastStatus": r["last_status"],
        "lastError": r["last_error"], "deliveredAt": r["delivered_at"],
    }  # fmt: skip
    if with_body:
        out["body"] = r["body"]
    return out


def list_rows(
    conn: sqlite3.Connection, state: RowState | None = None, limit: int = 100, *, with_body: bool = False
) -> list[dict[str, Any]]:
    """The oldest rows (of one state, or all) as JSON-able dicts, by ``seq``; bodies only if asked."""
    columns = _COLUMNS + (", body" if with_body else "")
    where, args = ("WHERE state = ?", (state,)) if state else ("", ())
    rows = conn.execute(f"SELECT {columns} FROM outbox {where} ORDER BY seq LIMIT ?", (*args, limit))
    return [_row_dict(r, with_body) for r in rows]


def dead_letter_rows(conn: sqlite3.Connection, limit: int = 100) -> list[dict[str, Any]]:
    """Dead rows with their body, last status and the upstream's error text, oldest first."""
    return list_rows(conn, "dead", limit, with_body=True)


def retry_dead(conn: sqlite3.Connection, ids: Collection[str] | None, now: float) -> int:
    """Put dead rows back in the queue, due now with a fresh backoff; ``ids=None`` = every dead row.

    ``last_status``/``last_error`` are kept until the next attempt. Returns the rows moved.
    """
    sql = "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ? WHERE state = 'dead'"
    if ids is None:
        return conn.execute(sql, (now,)).rowcount
    return sum(conn.execute(sql + " AND id = ?", (now, row_id)).rowcount for row_id in ids)


def purge(
    conn: sqlite3.Connection, *, state: RowState | None = None, ids: Collection[str] | None = None
) -> int:
    """Delete rows by state, by id, or both (ids within that state); returns how many.

    Refuses to run with neither (ValueError), so a slip cannot empty the queue. Purging pending rows
    loses them: count the result as ``dropped:operator``.
    """
    if state is None and ids is None:
        raise ValueError("purge needs a state or ids")
    where, args = ("state = ?", [state]) if state else ("1", [])
    if ids is None:
        return conn.execute(f"DELETE FROM outbox WHERE {where}", args).rowcount
    return sum(
        conn.execute(f"DELETE FROM outbox WHERE {where} AND id = ?", [*args, row_id]).rowcount
        for row_id in ids
    )


def export_pending(conn: sqlite3.Connection, out: TextSink, *, now: float) -> int:
    """Write the pending rows to ``out`` as JSON lines, oldest first; returns how many.

    Line 1 is ``{"format": EXPORT_FORMAT, "exportedAt"}``; then one object per row with ``id`` (kept, so
    the upstream deduplicates a row sent by both agents), ``sec``, ``method``, ``path``, ``body``,
    ``uid``, ``receivedAt`` and the exporting agent's ``seq`` (informational). Rows stay in this queue.
    """
    out.write(orjson.dumps({"format": EXPORT_FORMAT, "exportedAt": now}).decode() + "\n")
    count = 0
    for r in conn.execute(
        "SELECT seq, id, sec, method, path, body, uid, received_at FROM outbox"
        " WHERE state = 'pending' ORDER BY seq"
    ):
        record = {
            "id": r["id"], "sec": r["sec"], "method": r["method"], "path": r["path"], "body": r["body"],
            "uid": r["uid"], "receivedAt": r["received_at"], "seq": r["seq"],
        }  # fmt: skip
        out.write(orjson.dumps(record).decode() + "\n")
        count += 1
    return count


@dataclass(slots=True, frozen=True)
class ImportResult:
    imported: int
    skipped: int  # an id already in this outbox


def _is_json_object(text: str) -> bool:
    """Whether a POST row's body is a JSON object: the drain embeds stored bodies in a batch as they are
    (``sync/client.replay_body``), so one malformed body would spoil the batch of every row beside it."""
    try:
        return isinstance(orjson.loads(text), dict)
    except orjson.JSONDecodeError:
        return False


def queue_values(raw: Any) -> tuple[Any, ...] | None:
    """An exported (or salvaged) row as the values :func:`queue_again` inserts; None if it is not one."""
    ok = (
        isinstance(raw, dict)
        and all(isinstance(raw.get(k), str) and raw[k] for k in ("id", "sec", "path"))
        and raw.get("method") in ("GET", "POST")
        and isinstance(raw.get("body"), str)
        and (raw.get("uid") is None or isinstance(raw["uid"], str))
        and isinstance(raw.get("receivedAt"), int | float)
    )
    if not ok or (raw["method"] == "POST" and not _is_json_object(raw["body"])):
        return None
    body: str = raw["body"]
    return (raw["id"], raw["sec"], raw["method"], raw["path"], body, raw["uid"], len(body.encode()),
            float(raw["receivedAt"]))  # fmt: skip


def queue_again(conn: sqlite3.Connection, values: tuple[Any, ...], now: float) -> bool:
    """Insert a row from elsewhere as pending, due now, keeping its id; False if that id is already here."""
    cur = conn.execute(
        "INSERT INTO outbox (id, sec, method, path, body, uid, bytes, received_at, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
        (*values, now),
    )
    return bool(cur.rowcount)


def import_rows(conn: sqlite3.Connection, lines: Iterable[str], now: float) -> ImportResult:
    """Queue the rows of an :func:`export_pending` file as pending, in file order, due now.

    Each row keeps its ``id`` and ``receivedAt`` and gets a new local ``seq``; an ``id`` already here is
    skipped. Raises ValueError (naming the line) on a wrong format line or a malformed row; run it
    inside ``db.write`` so such a file imports nothing.
    """
    imported = skipped = 0
    header = False
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"line {line_no}: not JSON: {exc}") from None
        if not header:
            if not isinstance(raw, dict) or raw.get("format") != EXPORT_FORMAT:
                raise ValueError(f"line {line_no}: not an {EXPORT_FORMAT} export")
            header = True
            continue
        values = queue_values(raw)
        if values is None:
            raise ValueError(f"line {line_no}: not an outbox row")
        if queue_again(conn, values, now):
            imported += 1
        else:
            skipped += 1
    return ImportResult(imported, skipped)
