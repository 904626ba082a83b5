"""A full disk answers 503 with Retry-After, writes nothing half-way, /readyz says degraded meanwhile, and
the agent recovers."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from aiohttp.test_utils import TestClient

from edge_agent.agent.keys import db_key
from tests.conftest import MakeClient
from tests.helpers import db_count, db_rows, envelope


def cap_pages(extra: int) -> object:
    def write(conn: sqlite3.Connection) -> int:
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        return int(conn.execute(f"PRAGMA max_page_count = {pages + extra}").fetchone()[0])

    return write


async def test_disk_full_is_503_with_retry_after_and_nothing_half_written(
    client: TestClient, tmp_path: Path
) -> None:
    db_path = tmp_path / "agent.db"
    db = client.app[db_key]
    ok = await client.post("/visit", json=envelope())
    assert ok.status == 200
    before = {t: db_count(db_path, t) for t in ("history", "outbox", "profiles")}

    await db.write(cap_pages(0))  # the database may not grow by a single page: "disk full"
    big = envelope(data=[{"type": "note", "name": "x" * 200_000}])
    resp = await client.post("/event", json=big)
    assert resp.status == 503
    assert int(resp.headers["Retry-After"]) > 0
    body = await resp.json()
    assert body["ok"] is False and body["status"] == 503 and body["errors"]
    assert {t: db_count(db_path, t) for t in before} == before

    await db.write(cap_pages(1_000_000))  # space again
    again = await client.post("/event", json=big)
    assert again.status == 200
    assert db_count(db_path, "outbox") == before["outbox"] + 1


async def test_readyz_and_status_say_degraded_while_writes_fail_and_recover(client: TestClient) -> None:
    db = client.app[db_key]
    assert (await client.get("/readyz")).status == 200
    await db.write(cap_pages(0))  # the file may not grow by one page: "database or disk is full"
    big = envelope(data=[{"type": "note", "name": "x" * 200_000}])
    assert (await client.post("/event", json=big)).status == 503

    ready = await client.get("/readyz")
    assert ready.status == 503 and int(ready.headers["Retry-After"]) > 0
    body = await ready.json()
    assert body["ok"] is False and body["status"] == 503
    assert any("degraded" in e and "full" in e for e in body["errors"]), body
    storage = (await (await client.get("/status")).json())["storage"]
    assert storage["state"] == "degraded" and "full" in storage["reason"]

    await db.write(cap_pages(1_000_000))  # space again; the next write that commits clears it
    assert (await client.post("/event", json=big)).status == 200
    assert (await client.get("/readyz")).status == 200
    storage = (await (await client.get("/status")).json())["storage"]
    assert storage["state"] == "ok" and storage["reason"] is None


async def test_degraded_clears_by_itself_once_writes_can_commit_with_no_traffic(
    make_client: MakeClient, tmp_path: Path
) -> None:
    """Another process holds the write lock: writes fail (locked), the writer's probe keeps failing while it
    does, and once the lock is gone the probe's own write commits and /readyz turns 200 with no request
    writing anything."""
    db_path = tmp_path / "agent.db"
    client = await make_client(storage={"busy_timeout_ms": 50})
    db = client.app[db_key]
    db.health_probe_interval_s = 0.2
    blocker = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    try:
        await asyncio.to_thread(blocker.execute, "BEGIN IMMEDIATE")
        assert (await client.post("/visit", json=envelope())).status == 503
        await asyncio.sleep(1.0)  # five probe intervals, every probe refused by the lock
        ready = await client.get("/readyz")
        assert ready.status == 503, await ready.text()
        assert any("degraded" in e and "locked" in e for e in (await ready.json())["errors"])
        await asyncio.to_thread(blocker.execute, "ROLLBACK")
    finally:
        await asyncio.to_thread(blocker.close)

    deadline = time.monotonic() + 3
    while (ready := await client.get("/readyz")).status != 200:
        assert time.monotonic() < deadline, await ready.text()
        await asyncio.sleep(0.05)
    storage = (await (await client.get("/status")).json())["storage"]
    assert storage["state"] == "ok" and storage["reason"] is None
    assert db_rows(db_path, "SELECT value FROM meta WHERE key = 'storage_probe_at'")  # the probe's write
