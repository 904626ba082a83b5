"""Storage as the daemon runs it: owner-only files, degraded readiness while writes fail, and a corrupt
database moved aside and replaced (at start and while serving) without the agent stopping."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from edge_agent.agent.keys import db_key
from tests.agent.daemon import free_port, start_agent, stop, wait_ready
from tests.conftest import MakeClient
from tests.helpers import db_count, envelope

PAGE = 4096


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def checkpoint(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def damage_pages(path: Path, first: int) -> None:
    """Overwrite every page from ``first`` (1-based) to the end with garbage."""
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek((first - 1) * PAGE)
        f.write(b"\xa5" * (size - (first - 1) * PAGE))


def moved_aside(directory: Path) -> list[Path]:
    return sorted(directory.glob("agent.db.corrupt-*"))


async def visits(client: TestClient, count: int) -> None:
    for i in range(count):
        resp = await client.post("/visit", json=envelope(device_id=f"dev-{i}"))
        assert resp.status == 200


async def test_database_wal_shm_and_directory_are_owner_only(make_client: MakeClient, tmp_path: Path) -> None:
    db_path = tmp_path / "data" / "agent.db"
    client = await make_client(storage={"path": db_path})
    await visits(client, 2)
    assert mode(db_path.parent) == 0o700
    for name in ("agent.db", "agent.db-wal", "agent.db-shm"):
        assert (db_path.parent / name).exists(), name
        assert mode(db_path.parent / name) == 0o600, name


async def test_existing_loose_files_are_tightened_at_start(
    make_client: MakeClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    db_path = data / "agent.db"
    sqlite3.connect(db_path).close()
    for path, loose in ((data, 0o755), (db_path, 0o644)):
        os.chmod(path, loose)
    client = await make_client(storage={"path": db_path})
    await visits(client, 1)
    assert mode(data) == 0o700 and mode(db_path) == 0o600
    assert mode(data / "agent.db-wal") == 0o600
    tightened = [r.getMessage() for r in caplog.records if "tightened" in r.getMessage()]
    assert any(str(db_path) in m and "0644 -> 0600" in m for m in tightened)
    assert any(str(data) in m and "0755 -> 0700" in m for m in tightened)


async def make_damaged_db(make_client: MakeClient, db_path: Path, how: str) -> int:
    """A real database with a queue, closed, then damaged; returns its outbox row count."""
    client = await make_client(storage={"path": db_path})
    await visits(client, 20)
    await client.close()
    rows = db_count(db_path, "outbox")
    await asyncio.to_thread(checkpoint, db_path)
    if how == "garbage header":
        with db_path.open("r+b") as f:
            f.write(os.urandom(PAGE))
    else:
        damage_pages(db_path, first=3)
    return rows


@pytest.mark.parametrize("how", ["garbage header", "damaged pages"])
async def test_corrupt_database_at_start_is_moved_aside_and_the_agent_is_ready_on_a_fresh_one(
    make_client: MakeClient, tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    db_path = tmp_path / "agent.db"
    await make_damaged_db(make_client, db_path, how)
    damaged = db_path.read_bytes()

    started = time.monotonic()
    client = await make_client(storage={"path": db_path})
    ready = await client.get("/readyz")
    elapsed = time.monotonic() - started
    assert ready.status == 200, await ready.text()
    assert elapsed < 2.0, f"ready after {elapsed:.2f} s"

    moved = moved_aside(tmp_path)
    assert [p.name for p in moved if not p.name.endswith(("-wal", "-shm"))] == [moved[0].name]
    assert moved[0].read_bytes() == damaged and mode(moved[0]) == 0o600
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any(str(db_path) in m and str(moved[0]) in m for m in errors)

    assert (await client.post("/visit", json=envelope())).status == 200
    status = await (await client.get("/status")).json()
    (incident,) = status["storage"]["incidents"]
    assert incident["movedTo"] == str(moved[0]) and incident["path"] == str(db_path)

    ack = await client.post("/admin/storage/acknowledge", json={})
    assert ack.status == 200 and (await ack.json())["acknowledged"] == 1
    assert (await (await client.get("/status")).json())["storage"]["incidents"] == []


async def test_corruption_found_while_serving_moves_the_file_aside_and_keeps_serving(
    make_client: MakeClient, tmp_path: Path
) -> None:
    db_path = tmp_path / "agent.db"
    client = await make_client(storage={"path": db_path})
    db = client.app[db_key]
    await visits(client, 20)
    await asyncio.to_thread(checkpoint, db_path)
    await asyncio.to_thread(damage_pages, db_path, 3)
    # Drop the writer's page cache so its next write reads the damaged pages from disk.
    await db.write(lambda conn: conn.execute("PRAGMA shrink_memory"))

    first = await client.post("/visit", json=envelope(device_id="after"))
    assert first.status == 503
    deadline = time.monotonic() + 5
    statuses = []
    while time.monotonic() < deadline:
        resp = await client.post("/visit", json=envelope(device_id="after"))
        statuses.append(resp.status)
        if resp.status == 200:
            break
        await asyncio.sleep(0.05)
    assert statuses[-1] == 200, statuses
    assert (await client.get("/readyz")).status == 200
    status = await (await client.get("/status")).json()
    (incident,) = status["storage"]["incidents"]
    assert moved_aside(tmp_path)[0] == Path(incident["movedTo"]) and "malformed" in incident["reason"]
    assert status["bundle"] is not None


async def test_a_database_that_does_not_open_is_503_not_an_exit_and_is_tried_again(
    make_client: MakeClient, tmp_path: Path
) -> None:
    db_path = tmp_path / "agent.db"
    db_path.mkdir()  # a directory where the file should be: SQLite cannot open it
    client = await make_client(storage={"path": db_path})
    ready = await client.get("/readyz")
    assert ready.status == 503 and int(ready.headers["Retry-After"]) > 0
    assert any("storage: not open" in e and str(db_path) in e for e in (await ready.json())["errors"])
    visit = await client.post("/visit", json=envelope())
    assert visit.status == 503 and "Retry-After" in visit.headers
    # The operator's view says what is wrong instead of a bare 503.
    status = await client.get("/status")
    assert status.status == 200, await status.text()
    body = await status.json()
    assert body["storage"]["state"] == "unavailable" and str(db_path) in body["storage"]["reason"]
    assert body["queue"]["pending"] is None and body["bundle"] is None
    assert (await client.get("/metrics")).status == 200

    db_path.rmdir()  # the operator fixes it; the agent opens it by itself
    deadline = time.monotonic() + 10
    while (await client.get("/readyz")).status != 200:
        assert time.monotonic() < deadline, "never opened"
        await asyncio.sleep(0.1)
    assert (await client.post("/visit", json=envelope())).status == 200
    storage = (await (await client.get("/status")).json())["storage"]
    assert storage["state"] == "ok" and storage["reason"] is None


async def test_the_daemon_on_a_corrupt_file_serves_instead_of_exiting(tmp_path: Path) -> None:
    db_path = tmp_path / "agent.db"
    db_path.write_bytes(os.urandom(8 * PAGE))  # not a database at all
    port = free_port()
    started = time.monotonic()
    proc = start_agent(db_path, port)
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, f"http://127.0.0.1:{port}/readyz", proc)
            elapsed = time.monotonic() - started
            async with session.post(f"http://127.0.0.1:{port}/visit", json=envelope()) as resp:
                assert resp.status == 200
    finally:
        stop(proc)
    assert elapsed < 15, f"ready {elapsed:.1f} s after exec (interpreter start included)"
    assert len(moved_aside(tmp_path)) == 1
