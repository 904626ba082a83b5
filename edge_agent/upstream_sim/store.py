"""What the reference upstream received, in its own SQLite file.

Two tables: ``items`` holds each unique item once (keyed by its Idempotency-Key, in arrival order), and
``tallies`` counts every accepted call per agent and route, duplicates included. Sequence gaps are
derived from ``items`` when asked, never maintained, because rows arrive out of order.

All SQL runs on one dedicated thread that owns the connection, so calls are serialised without a lock
and the event loop never blocks on SQLite.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

T = TypeVar("T")

GAP_LIST_CAP = 1000
"""At most this many missing sequence numbers are listed by ``stats(detail=True)``."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    arrival INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    agent TEXT NOT NULL,
    seq INTEGER,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    route TEXT NOT NULL,
    sec TEXT,
    uid TEXT,
    event_types TEXT NOT NULL,
    body TEXT NOT NULL,
    agent_received_at TEXT,
    arrived_at REAL NOT NULL,
    via TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_agent_seq ON items (agent, seq);
CREATE TABLE IF NOT EXISTS tallies (
    agent TEXT NOT NULL,
    route TEXT NOT NULL,
    received INTEGER NOT NULL,
    duplicates INTEGER NOT NULL,
    PRIMARY KEY (agent, route)
);
"""


@dataclass(frozen=True, slots=True)
class Item:
    """One replayed call or batch item, as accounted.

    ``id`` is the Idempotency-Key (batch: the item ``id``); ``agent`` is ``""`` when the caller sent no
    agent id; ``seq`` is None when absent or not an integer; ``path`` is as received, ``route`` its
    canonical form (``/event``); ``body`` is the JSON body, or the query as a dict for engagement.
    """

    id: str
    agent: str
    seq: int | None
    method: str
    path: str
    route: str
    body: Any
    sec: str | None = None
    uid: str | None = None
    event_types: list[str] = field(default_factory=list)
    agent_received_at: str | None = None
    via: str = "replay"


class ReceivedStore:
    """Records items with deduplication and answers the statistics. Open with ``await open()``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise RuntimeError("store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upstream-sim-db")
        await self._run(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # A test double, not a ledger: NORMAL survives a process crash, which is all it needs.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(SCHEMA)
        self._conn = conn

    async def close(self) -> None:
        if self._executor is None:
            return
        await self._run(self._close)
        executor, self._executor = self._executor, None
        await asyncio.to_thread(executor.shutdown)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("store is not open")
        return self._conn

    async def record(self, items: list[Item], arrived_at: float) -> list[bool]:
        """Store the items in one transaction; per item, True if new and False if a duplicate id."""
        return await self._run(self._record, items, arrived_at)

    def _record(self, items: list[Item], arrived_at: float) -> list[bool]:
        fresh: list[bool] = []
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            for item in items:
                cursor = self.conn.execute(
                    "INSERT OR IGNORE INTO items (id, agent, seq, method, path, route, sec, uid,"
                    " event_types, body, agent_received_at, arrived_at, via)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        item.id, item.agent, item.seq, item.method, item.path, item.route, item.sec,
                        item.uid, orjson.dumps(item.event_types).decode(), orjson.dumps(item.body).decode(),
                        item.agent_received_at, arrived_at, item.via,
                    ),
                )  # fmt: skip
                new = cursor.rowcount == 1
                fresh.append(new)
                self.conn.execute(
                    "INSERT INTO tallies (agent, route, received, duplicates) VALUES (?, ?, 1, ?)"
                    " ON CONFLICT (agent, route) DO UPDATE SET received = received + 1,"
                    " duplicates = duplicates + excluded.duplicates",
                    (item.agent, item.route, 0 if new else 1),
                )
        return fresh

    async def stats(self, *, detail: bool = False) -> dict[str, Any]:
        """``{"agents": {id: {received, unique, duplicates, gaps, lastSeq[, gapList]}}, "paths": {...}}``.

        ``received`` counts accepted calls, duplicates included; ``unique`` the items stored;
        ``paths`` maps each canonical route (``/event``) to its accepted calls.

        ``lastSeq`` is the highest seq stored (0 when none); ``gaps`` counts the integers in
        ``1..lastSeq`` never stored; ``gapList`` (with ``detail``) lists them, at most ``GAP_LIST_CAP``.
        """
        return await self._run(self._stats, detail)

    def _stats(self, detail: bool) -> dict[str, Any]:
        agents: dict[str, dict[str, Any]] = {}
        for agent, received, duplicates in self.conn.execute(
            "SELECT agent, SUM(received), SUM(duplicates) FROM tallies GROUP BY agent ORDER BY agent"
        ):
            agents[agent] = {
                "received": received,
                "unique": 0,
                "duplicates": duplicates,
                "gaps": 0,
                "lastSeq": 0,
            }
        for agent, unique, last_seq, seen in self.conn.execute(
            "SELECT agent, COUNT(*), MAX(seq), COUNT(DISTINCT CASE WHEN seq >= 1 THEN seq END)"
            " FROM items GROUP BY agent"
        ):
            # Storing an item tallies its agent in the same transaction, so the entry exists.
            last_seq = max(last_seq or 0, 0)
            agents[agent].update(unique=unique, lastSeq=last_seq, gaps=last_seq - seen)
        if detail:
            for agent, entry in agents.items():
                entry["gapList"] = self._gap_list(agent) if entry["gaps"] else []
        paths = dict(
            self.conn.execute(
                "SELECT route, SUM(received) FROM tallies GROUP BY route ORDER BY route"
            ).fetchall()
        )
        return {"agents": agents, "paths": paths}

    def _gap_list(self, agent: str) -> list[int]:
        ranges = self.conn.execute(
            "SELECT prev + 1, seq - 1 FROM ("
            "  SELECT seq, LAG(seq, 1, 0) OVER (ORDER BY seq) AS prev"
            "  FROM (SELECT DISTINCT seq FROM items WHERE agent = ? AND seq >= 1)"
            ") WHERE seq > prev + 1 ORDER BY seq",
            (agent,),
        )
        missing: list[int] = []
        for first, last in ranges:
            missing.extend(range(first, min(last, first + GAP_LIST_CAP - len(missing) - 1) + 1))
            if len(missing) >= GAP_LIST_CAP:
                break
        return missing

    async def received(self, agent: str | None = None) -> list[dict[str, Any]]:
        """The unique items in arrival order (of one agent, or all)."""
        return await self._run(self._received, agent)

    def _received(self, agent: str | None) -> list[dict[str, Any]]:
        query = (
            "SELECT id, agent, seq, method, path, route, sec, uid, event_types, body, agent_received_at,"
            " arrived_at, via FROM items"
        )
        args: tuple[str, ...] = ()
        if agent is not None:
            query += " WHERE agent = ?"
            args = (agent,)
        rows = self.conn.execute(query + " ORDER BY arrival", args).fetchall()
        return [
            {
                "id": id_, "agent": agent_, "seq": seq, "method": method, "path": path, "route": route,
                "sec": sec, "uid": uid, "eventTypes": orjson.loads(event_types), "body": orjson.loads(body),
                "receivedAt": agent_received_at, "arrivedAt": arrived_at, "via": via,
            }
            for (id_, agent_, seq, method, path, route, sec, uid, event_types, body, agent_received_at,
                 arrived_at, via) in rows
        ]  # fmt: skip

    async def reset(self) -> None:
        """Forget everything received."""
        await self._run(self._reset)

    def _reset(self) -> None:
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("DELETE FROM items")
            self.conn.execute("DELETE FROM tallies")
