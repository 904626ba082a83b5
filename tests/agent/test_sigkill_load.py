"""SIGKILL the daemon N times in a row under load: ingest on /event and /visit, a drain to the reference
upstream, bundle swaps through ``POST /admin/bundle``, and a schema migration at some starts. After every
kill: ``PRAGMA integrity_check`` is ``ok`` and every write that got a 200 is in the file or upstream. At
the end a last start drains the queue, and the upstream holds every acknowledged write.

``EDGE_AGENT_KILLS`` sets N (CI default 8; the figures in docs/reliability.md come from N=50) and
``EDGE_AGENT_KILL_SEED`` the random kill moments.
"""

from __future__ import annotations

import asyncio
import copy
import os
import random
import shutil
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from edge_agent.storage.migrations import migrate
from tests.agent.daemon import free_port, start_agent, start_upstream, stop, wait_ready
from tests.conftest import DEMO_BUNDLE_PATH
from tests.helpers import envelope

KILLS = int(os.environ.get("EDGE_AGENT_KILLS", "8"))
SEED = int(os.environ.get("EDGE_AGENT_KILL_SEED", str(int(time.time()))))
pytestmark = [pytest.mark.slow, pytest.mark.timeout(120 + 8 * KILLS)]
ALL_MIGRATIONS = len(migrate(sqlite3.connect(":memory:")))  # what a fresh file applies
MIGRATION = "m004_scores"  # undone before some starts, so that start migrates a file full of data
MIGRATION_TABLES = ("item_scores", "pair_scores", "profile_views", "session_views")


@dataclass
class Tally:
    acked: set[str] = field(default_factory=set)
    bundles_acked: list[str] = field(default_factory=list)
    bundles_sent: list[str] = field(default_factory=list)
    integrity_ok: int = 0
    migrations: int = 0
    killed_starting: int = 0
    killed_loaded: int = 0


def marker_of(path: str, body: Any) -> str | None:
    """The id a writer put in its request: an event's ``name``, a visit's ``ctx.location``."""
    if isinstance(body, str):
        body = orjson.loads(body)
    if not isinstance(body, dict):
        return None
    if path.endswith("/event"):
        return str(body["data"][0].get("name"))
    if path.endswith("/visit"):
        return str(body.get("ctx", {}).get("location"))
    return None


def undo_migration(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        with conn:
            for table in MIGRATION_TABLES:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute("DELETE FROM _sqlite_migrations WHERE name = ?", (MIGRATION,))
    finally:
        conn.close()


def inspect_copy(db: Path, into: Path) -> tuple[str, set[str], str | None, int]:
    """integrity_check, the queued markers and the stored bundle version of a copy of the killed file
    (a copy, so the next start still recovers the hot WAL itself)."""
    into.mkdir(exist_ok=True)
    for suffix in ("", "-wal"):
        src = db.with_name(db.name + suffix)
        if src.exists():
            shutil.copyfile(src, into / (db.name + suffix))
    conn = sqlite3.connect(into / db.name)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "outbox" not in tables or "bundles" not in tables:
            # Killed after SQLite created the file, before the first migration committed: an empty
            # file, so nothing queued; the caller's check then needs every acknowledged id upstream.
            return integrity, set(), None, 0
        rows = conn.execute("SELECT path, body FROM outbox WHERE path IN ('/visit', '/event')").fetchall()
        bundle = conn.execute("SELECT version FROM bundles WHERE slot = 'current'").fetchone()
        applied = conn.execute("SELECT COUNT(*) FROM _sqlite_migrations").fetchone()[0]
    finally:
        conn.close()
        for leftover in into.iterdir():
            leftover.unlink()
    queued = {m for path, body in rows if (m := marker_of(path, body)) is not None}
    return integrity, queued, bundle[0] if bundle else None, applied


async def upstream_markers(session: aiohttp.ClientSession, sim: str) -> set[str]:
    async with session.get(f"{sim}/sim/received") as resp:
        items = (await resp.json())["items"]
    return {m for item in items if (m := marker_of(item["route"], item["body"])) is not None}


async def load(
    session: aiohttp.ClientSession, base: str, cycle: int, tally: Tally, bundle: dict[str, Any]
) -> None:
    """Writers on /event and /visit plus a bundle swapper; each bounded, each stops when the agent dies."""

    async def writer(worker: int) -> None:
        for n in range(5000):
            marker = f"c{cycle}-w{worker}-{n}"
            if worker % 2:
                path, body = "/visit", envelope(device_id=f"d{worker}", type="screenview")
                body["ctx"]["location"] = marker
            else:
                path, body = (
                    "/event",
                    envelope(device_id=f"d{worker}", data=[{"type": "tap", "name": marker}]),
                )
            try:
                async with session.post(base + path, json=body) as resp:
                    if resp.status == 200:
                        await resp.read()
                        tally.acked.add(marker)
            except (TimeoutError, aiohttp.ClientError):
                return

    async def swapper() -> None:
        for n in range(200):
            version = f"kill-{cycle}-{n}"
            doc = copy.deepcopy(bundle) | {"version": version}
            tally.bundles_sent.append(version)
            try:
                async with session.post(f"{base}/admin/bundle", json=doc) as resp:
                    if resp.status == 200:
                        tally.bundles_acked.append(version)
            except (TimeoutError, aiohttp.ClientError):
                return
            await asyncio.sleep(0.05)

    await asyncio.gather(*(writer(w) for w in range(4)), swapper())


async def test_sigkill_under_load_n_times_loses_nothing_acknowledged(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    db, check_dir = tmp_path / "agent.db", tmp_path / "check"
    port, sim_port = free_port(), free_port()
    base, sim = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sim_port}"
    env = {
        "EDGE_AGENT_UPSTREAM__URL": sim,
        "EDGE_AGENT_SYNC__PUSH_INTERVAL_S": "0.2",
        "EDGE_AGENT_SYNC__START_JITTER_S": "0",
    }
    bundle = orjson.loads(DEMO_BUNDLE_PATH.read_bytes())
    tally = Tally()
    upstream = start_upstream(tmp_path / "sim", sim_port)
    timeout = aiohttp.ClientTimeout(total=5)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await wait_ready(session, f"{sim}/sim/stats", upstream)
            for cycle in range(KILLS):
                if cycle % 4 == 3:
                    undo_migration(db)
                    tally.migrations += 1
                proc = start_agent(db, port, env)
                running: asyncio.Task[None] | None = None
                try:
                    if rng.random() < 0.25:  # during start-up: opening, migrating, loading the bundle
                        await asyncio.sleep(rng.uniform(0.0, 1.2))
                        tally.killed_starting += 1
                    else:
                        await wait_ready(session, f"{base}/readyz", proc)
                        running = asyncio.create_task(load(session, base, cycle, tally, bundle))
                        await asyncio.sleep(rng.uniform(0.2, 1.5))
                        tally.killed_loaded += 1
                    proc.send_signal(signal.SIGKILL)
                    if running is not None:
                        await asyncio.wait_for(running, timeout=30)
                finally:
                    stop(proc)
                assert proc.returncode == -signal.SIGKILL
                if not db.exists():
                    continue  # killed before the file was created
                integrity, queued, stored, _ = inspect_copy(db, check_dir)
                assert integrity == "ok", f"cycle {cycle}: {integrity}"
                tally.integrity_ok += 1
                lost = tally.acked - queued - await upstream_markers(session, sim)
                assert not lost, (
                    f"cycle {cycle}: {len(lost)} acknowledged writes lost, e.g. {sorted(lost)[:3]}"
                )
                if tally.bundles_acked:  # the stored bundle is the last acknowledged one or a later attempt
                    assert stored in tally.bundles_sent
                    assert tally.bundles_sent.index(stored) >= tally.bundles_sent.index(
                        tally.bundles_acked[-1]
                    )

            # A last start finishes the drain: the upstream then holds every acknowledged write.
            proc = start_agent(db, port, env)
            try:
                await wait_ready(session, f"{base}/readyz", proc)
                # The backlog belongs to a handful of profiles and a batch carries one row per profile,
                # so the drain's time grows with the backlog: wait while it shrinks, not a fixed time.
                pending, stalled_until = -1, time.monotonic() + 30
                while pending != 0 and time.monotonic() < stalled_until:
                    async with session.get(f"{base}/status") as resp:
                        now_pending = (await resp.json())["queue"]["pending"]
                    if now_pending != pending:
                        pending, stalled_until = now_pending, time.monotonic() + 30
                    await asyncio.sleep(0.2)
                assert pending == 0, f"the final drain stalled with {pending} rows still queued"
                delivered = await upstream_markers(session, sim)
                async with session.get(f"{sim}/sim/stats") as resp:
                    [agent] = (await resp.json())["agents"].values()
            finally:
                proc.terminate()
                proc.wait(timeout=15)
    finally:
        stop(upstream)
    assert proc.returncode == 0
    _, _, _, applied = inspect_copy(db, check_dir)
    assert applied == ALL_MIGRATIONS  # every migration applied in the end, m004 re-applied after each undo
    missing = tally.acked - delivered
    print(
        f"\nSIGKILL x{KILLS} (seed {SEED}): acked {len(tally.acked)}, lost {len(missing)}, "
        f"integrity ok x{tally.integrity_ok}, killed starting {tally.killed_starting} / under load "
        f"{tally.killed_loaded}, migrations {tally.migrations}, bundle swaps acked "
        f"{len(tally.bundles_acked)}, "
        f"upstream unique {agent['unique']} duplicates {agent['duplicates']} gaps {agent['gaps']}"
    )
    assert not missing, f"{len(missing)} acknowledged writes never delivered, e.g. {sorted(missing)[:3]}"
    assert len(tally.acked) >= 100 * tally.killed_loaded // 2, "too little load to prove anything"
    assert agent["gaps"] == 0
