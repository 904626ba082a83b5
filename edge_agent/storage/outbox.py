"""The outbox: every accepted visit, event, user change and engagement hit, queued for the upstream.

A row is written in the same transaction as the local effect, so a 200 always means "queued".
``id`` is a UUIDv7 (the Idempotency-Key); ``seq`` is AUTOINCREMENT, so it is never reused even after
delivered rows are pruned, and the upstream can tell a gap from a duplicate.

The drain (``sync/push.py``) reads :func:`ready_rows` and writes what each attempt did with
:func:`apply_marks`; a row becomes ``delivered`` only after the upstream answered, so a crash between
the send and the mark re-sends it and the upstream deduplicates by ``id``. Bounds, pruning and the
operator commands (dead letter, retry, purge, export/import) are in ``outbox_admin.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from edge_agent.storage.ids import new_row_id
from edge_agent.storage.profiles import set_central_uid


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


def last_dead(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The newest dead row's route, answer status and raw error text (``received_at`` its ingest)."""
    row = conn.execute(
        "SELECT path, last_status, last_error, received_at FROM outbox WHERE state = 'dead' "
        "ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    return None if row is None else dict(row)


# -- the drain's view: ready rows and their outcomes ------------------------------------------------


@dataclass(slots=True, frozen=True)
class OutboxRow:
    """One pending row as the drain sends it. ``central_uid`` is the profile's mapped uid, if any."""

    seq: int
    id: str
    sec: str
    method: str
    path: str
    body: str
    uid: str | None
    received_at: float
    attempts: int
    central_uid: str | None = None


_READY_SQL = (
    "SELECT o.seq, o.id, o.sec, o.method, o.path, o.body, o.uid, o.received_at, o.attempts,"
    " o.next_attempt_at, p.central_uid FROM outbox o LEFT JOIN profiles p ON p.uid = o.uid"
    " WHERE o.state = 'pending' ORDER BY o.seq"
)


def ready_rows(
    conn: sqlite3.Connection,
    *,
    now: float,
    limit: int,
    ignore_timers: bool = False,
    paused_secs: Collection[str] = (),
    held: Collection[int] = (),
) -> list[OutboxRow]:
    """The oldest pending rows that may be sent now, by ``seq``, at most ``limit``.

    A row waits — and so does every later row of its profile (``uid``) — when its ``next_attempt_at``
    is in the future (unless ``ignore_timers``), its ``sec`` is in ``paused_secs``, or its ``seq`` is
    in ``held`` (rows the caller already tried in this drain). Rows without a uid only wait for
    themselves. The drain reads whole chains and sends them in order.

    Scans from the oldest pending row and stops at ``limit``, so its cost grows with the rows that
    wait ahead of the ready ones, not with the queue.
    """
    out: list[OutboxRow] = []
    blocked: set[str] = set()
    for r in conn.execute(_READY_SQL):
        uid = r["uid"]
        waiting = (
            r["sec"] in paused_secs or r["seq"] in held or (not ignore_timers and r["next_attempt_at"] > now)
        )
        if uid is not None:
            if uid in blocked:
                continue
            if waiting:
                blocked.add(uid)
                continue
        elif waiting:
            continue
        out.append(
            OutboxRow(
                seq=r["seq"], id=r["id"], sec=r["sec"], method=r["method"], path=r["path"],
                body=r["body"], uid=uid, received_at=r["received_at"], attempts=r["attempts"],
                central_uid=r["central_uid"],
            )
        )  # fmt: skip
        if len(out) >= limit:
            break
    return out


MarkKind = Literal["delivered", "retry", "dead", "held"]


@dataclass(slots=True, frozen=True)
class Mark:
    """What one attempt did to a row.

    ``delivered``/``dead`` end the row; ``retry`` keeps it pending until ``next_attempt_at``; ``held``
    keeps it pending and due (its sec was paused by an auth failure). Every kind counts an attempt
    and keeps the answer's status and error text.
    """

    seq: int
    kind: MarkKind
    status: int | None = None
    error: str | None = None
    next_attempt_at: float | None = None


ERROR_TEXT_MAX = 2000
"""Longest error text kept on a row (an upstream error page can be large)."""


def apply_marks(
    conn: sqlite3.Connection,
    marks: Iterable[Mark],
    now: float,
    central_uids: Mapping[str, str] | None = None,
) -> None:
    """Record attempt outcomes, and ``local uid → central uid`` mappings learnt from the answers.

    Only rows still pending change: an operator purge or import that raced the drain wins.
    """
    delivered, dead, retry, held = [], [], [], []
    for m in marks:
        error = None if m.error is None else m.error[:ERROR_TEXT_MAX]
        if m.kind == "delivered":
            delivered.append((now, m.status, m.seq))
        elif m.kind == "dead":
            dead.append((m.status, error, m.seq))
        elif m.kind == "retry":
            retry.append(
                (m.next_attempt_at if m.next_attempt_at is not None else now, m.status, error, m.seq)
            )
        else:
            held.append((m.status, error, m.seq))
    pending = " WHERE seq = ? AND state = 'pending'"
    conn.executemany(
        "UPDATE outbox SET state = 'delivered', delivered_at = ?, attempts = attempts + 1,"
        " last_status = ?, last_error = NULL" + pending,
        delivered,
    )
    conn.executemany(
        "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_status = ?, last_error = ?"
        + pending,
        dead,
    )
    conn.executemany(
        "UPDATE outbox SET next_attempt_at = ?, attempts = attempts + 1, last_status = ?, last_error = ?"
        + pending,
        retry,
    )
    conn.executemany(
        "UPDATE outbox SET attempts = attempts + 1, last_status = ?, last_error = ?" + pending, held
    )
    for uid, central in (central_uids or {}).items():
        set_central_uid(conn, uid, central)
