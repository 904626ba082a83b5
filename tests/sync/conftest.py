"""Fixtures of the sync tests: the push rig (the agent's storage and a Pusher wired to the reference
upstream of ``tests/conftest.py``), ingest helpers, and the guard that fails any test in which
edge-agent code makes a blocking call (SQLite, file I/O, sleep) on the event loop."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from edge_agent.clock import ManualClock
from edge_agent.config.settings import Settings
from edge_agent.storage.database import Database
from edge_agent.storage.profiles import SessionPolicy
from edge_agent.storage.tracking import track
from edge_agent.sync.client import UpstreamClient, create_session
from edge_agent.sync.drain import DrainReport
from edge_agent.sync.push import Pusher
from edge_agent.sync.state import SyncState
from edge_agent.upstream_sim import FaultConfig
from tests.blocking import no_blocking_on_the_loop
from tests.conftest import MakeSim
from tests.helpers import queued_event

__all__ = ["no_blocking_on_the_loop"]

# -- the push side: the agent's storage, a pusher and the upstream on one manual clock ---------------


@dataclass
class Rig:
    """The agent's storage and a :class:`Pusher` wired to the reference upstream, on one ``ManualClock``
    that the pusher's sleeps advance (pacing, start jitter) and the upstream reads (``outageUntil``)."""

    db: Database
    sim: TestClient
    clock: ManualClock
    settings: Settings
    state: SyncState
    client: UpstreamClient
    pusher: Pusher

    async def drain_until_empty(self, max_drains: int = 400) -> list[DrainReport]:
        """Drain like the scheduler does, until nothing is pending (bounded): after each drain the clock
        moves by ``sync.push_interval_s``, or further to the end of a drain-level pause, or to the first
        row due when none is due before."""
        reports = []
        for _ in range(max_drains):
            reports.append(await self.pusher.drain())
            if not await self.pending():
                return reports
            due = await self.db.read(
                lambda c: c.execute(
                    "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'"
                ).fetchone()[0]
            )
            step = self.clock.now() + self.settings.sync.push_interval_s
            self.clock.set(max(step, due, self.state.next_attempt_at or 0) + 0.001)
        raise AssertionError(f"still {await self.pending()} pending after {max_drains} drains")

    async def pending(self) -> int:
        return int(await self.db.read(lambda c: c.execute(SELECT_PENDING).fetchone()[0]))

    async def rows(self, where: str = "1", *args: Any) -> list[dict[str, Any]]:
        sql = f"SELECT * FROM outbox WHERE {where} ORDER BY seq"
        return await self.db.read(lambda c: [dict(r) for r in c.execute(sql, args)])

    async def faults(self, **faults: Any) -> None:
        response = await self.sim.post("/sim/faults", json=faults)
        assert response.status == 200, await response.text()

    async def stats(self) -> dict[str, Any]:
        body: dict[str, Any] = await (await self.sim.get("/sim/stats", params={"detail": "1"})).json()
        return body

    async def agent_stats(self) -> dict[str, Any]:
        agents = (await self.stats())["agents"]
        assert list(agents) == [self.client.agent_id], agents
        entry: dict[str, Any] = agents[self.client.agent_id]
        return entry

    async def received(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await (await self.sim.get("/sim/received")).json())["items"]
        return items


SELECT_PENDING = "SELECT COUNT(*) FROM outbox WHERE state = 'pending'"
MakeRig = Callable[..., Awaitable[Rig]]


async def open_db(path: Path) -> Database:
    """The agent's SQLite storage, opened (and migrated) off the loop."""
    db = Database(path)
    await asyncio.to_thread(db.open)
    return db


@pytest.fixture
async def make_rig(
    make_sim: MakeSim, make_settings: Callable[..., Settings], clock: ManualClock, tmp_path: Path
) -> AsyncIterator[MakeRig]:
    """``await make_rig(mode=…, faults=…, keys=…, sync={…}, upstream={…}, url_suffix="/v2", db=…,
    sim=…, **settings)``. Pacing is raised (tests are about rules, not speed) and start jitter is off
    unless ``sync`` says otherwise. Without ``db`` the rig opens ``tmp_path/agent.db`` (closed at the end)."""
    sessions: list[aiohttp.ClientSession] = []
    opened: list[Database] = []

    async def make(
        *,
        mode: str = "replay",
        faults: FaultConfig | None = None,
        keys: list[str] | None = None,
        sync: dict[str, Any] | None = None,
        upstream: dict[str, Any] | None = None,
        url_suffix: str = "",
        db: Database | None = None,
        sim: TestClient | None = None,
        **overrides: Any,
    ) -> Rig:
        sim = sim or await make_sim(faults=faults, keys=keys, clock=clock)
        url = str(sim.server.make_url("/")).rstrip("/") + url_suffix
        sync_settings = {
            "mode": mode,
            "start_jitter_s": 0,
            "max_rate": 5000,
            "max_in_flight": 8,
            **(sync or {}),
        }
        settings = make_settings(upstream={"url": url, **(upstream or {})}, sync=sync_settings, **overrides)
        session = create_session(settings)
        sessions.append(session)
        state = SyncState()
        client = UpstreamClient(session, settings, clock=clock)

        async def sleep(seconds: float) -> None:
            clock.advance(seconds)
            await asyncio.sleep(0)

        if db is None:
            db = await open_db(tmp_path / "agent.db")
            opened.append(db)
        pusher = Pusher(db, client, settings, clock, state, sleep=sleep, rng=random.Random(7))
        return Rig(db, sim, clock, settings, state, client, pusher)

    yield make
    for session in sessions:
        await session.close()
    for db in opened:
        await asyncio.to_thread(db.close)


def event_body(uid: str, sec: str, types: tuple[str, ...]) -> dict[str, Any]:
    return {
        "sec": sec,
        "device": {"ua": "Shop/2.3.0 (Android 14; Pixel 7)", "id": f"dev-{uid}", "tracking": "notSupported"},
        "user": {"uid": uid},
        "ctx": {"type": "HOMEPAGE", "data": [], "location": "app://home"},
        "data": [{"type": t} for t in types],
    }


async def ingest(
    db: Database,
    clock: ManualClock,
    n: int,
    *,
    profiles: int = 10,
    sec: str = "sec-a",
    prefix: str = "u",
    types: Callable[[int], str] = lambda i: "cart",
) -> list[str]:
    """Ingest ``n`` events through the agent's real write path (``storage.tracking.track``), round-robin
    over ``profiles`` profiles named ``<prefix>0000…``; returns the profile uids."""
    uids = [f"{prefix}{p:04d}" for p in range(profiles)]
    policy = SessionPolicy()

    def fill(conn: sqlite3.Connection, start: int, stop: int) -> None:
        for i in range(start, stop):
            uid, kind = uids[i % profiles], types(i)
            body = event_body(uid, sec, (kind,))
            body["data"] = [{"type": kind, "n": i}]
            track(conn, queued_event(body), clock.now(), policy)

    for start in range(0, n, 2000):
        await db.write(lambda conn, start=start: fill(conn, start, min(n, start + 2000)))  # type: ignore[misc]
    return uids


def per_profile_seqs(items: list[dict[str, Any]]) -> dict[str, list[int]]:
    """The seqs of each profile's items in arrival order at the upstream."""
    out: dict[str, list[int]] = {}
    for item in items:
        out.setdefault(item["uid"], []).append(item["seq"])
    return out
