"""Kill -9 the daemon while a loop posts events: every event that got a 200 is in the outbox."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.agent.daemon import free_port, start_agent, wait_ready
from tests.helpers import envelope

pytestmark = pytest.mark.slow


async def test_sigkill_loses_no_acknowledged_event(tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_agent(db, port)
    acknowledged: set[str] = set()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            await wait_ready(session, f"{base}/readyz", proc)

            async def writer(worker: int) -> None:
                # Bounded: at most 2,000 events per worker or until the connection dies.
                for n in range(2000):
                    marker = f"w{worker}-{n}"
                    body = envelope(device_id=f"dev-{worker}", data=[{"type": "tap", "name": marker}])
                    try:
                        async with session.post(f"{base}/event", json=body) as resp:
                            if resp.status == 200:
                                await resp.read()
                                acknowledged.add(marker)
                    except (TimeoutError, aiohttp.ClientError):
                        return

            workers = [asyncio.create_task(writer(w)) for w in range(8)]
            deadline = time.monotonic() + 10
            while len(acknowledged) < 300 and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a set
                await asyncio.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(asyncio.gather(*workers), timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 300

    # Restart on the same file: the agent must come up and still hold every acknowledged event.
    proc = start_agent(db, port)
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, f"{base}/readyz", proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    conn = sqlite3.connect(db)
    try:
        queued = {
            orjson.loads(body)["data"][0]["name"]
            for (body,) in conn.execute("SELECT body FROM outbox WHERE path = '/event'")
        }
        seqs = [seq for (seq,) in conn.execute("SELECT seq FROM outbox ORDER BY seq")]
    finally:
        conn.close()
    missing = acknowledged - queued
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    assert seqs == sorted(set(seqs))


async def test_sigterm_shuts_down_cleanly_and_keeps_everything(tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_agent(db, port)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            await wait_ready(session, f"{base}/readyz", proc)
            for n in range(20):
                body = envelope(device_id="term", data=[{"type": "tap", "name": f"t{n}"}])
                async with session.post(f"{base}/event", json=body) as resp:
                    assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed on the way out
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT COUNT(*) FROM outbox WHERE path = '/event'").fetchone()[0] == 20
    finally:
        conn.close()
