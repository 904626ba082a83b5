"""Benchmark the outbox drain: fill an outbox with N events, serve the reference upstream on loopback in
its own process, drain in replay and in batch mode, print events/s delivered and the writer's commits.

    python bench/drain.py [--events 20000] [--profiles 1000] [--in-flight 16] [--rate 100000]

Pacing is raised far above the defaults (50 calls/s, 4 in flight) so the figures show what the code and
the machine can do; at the defaults replay is capped at 50 events/s and batch at 50 × 500. Not part of
the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import servers  # noqa: E402

from edge_agent.clock import SystemClock  # noqa: E402
from edge_agent.config.settings import load_settings  # noqa: E402
from edge_agent.storage.database import Database  # noqa: E402
from edge_agent.storage.profiles import SessionPolicy  # noqa: E402
from edge_agent.storage.tracking import track  # noqa: E402
from edge_agent.sync.client import UpstreamClient, create_session  # noqa: E402
from edge_agent.sync.push import Pusher  # noqa: E402
from edge_agent.sync.state import SyncState  # noqa: E402
from tests.helpers import queued_event  # noqa: E402


def fill(path: Path, events: int, profiles: int) -> None:
    """N events through the agent's real write path, in transactions of 2,000."""
    db = Database(path)
    db.open()
    policy, now = SessionPolicy(), time.time()

    def chunk(conn: sqlite3.Connection, start: int, stop: int) -> None:
        for i in range(start, stop):
            uid = f"u{i % profiles:05d}"
            body = {
                "sec": "bench",
                "device": {"ua": "Shop/2.3.0 (Android 14; Pixel 7)", "id": f"dev-{uid}"},
                "user": {"uid": uid},
                "ctx": {"type": "PRODUCT", "data": [f"sku-{i % 500}"], "location": "app://product"},
                "data": [{"type": "cart", "value": i}],
            }
            track(conn, queued_event(body), now, policy)

    for start in range(0, events, 2000):
        db.write_sync(lambda conn, start=start: chunk(conn, start, min(events, start + 2000)))  # type: ignore[misc]
    db.close()


async def run(mode: str, db_path: Path, url: str, args: argparse.Namespace) -> None:
    settings = load_settings(
        overrides={
            "storage": {"path": db_path},
            "upstream": {"url": url},
            "sync": {
                "mode": mode,
                "max_rate": args.rate,
                "max_in_flight": args.in_flight,
                "start_jitter_s": 0,
            },
        }
    )
    db = Database(db_path)
    await asyncio.to_thread(db.open)
    async with create_session(settings) as session:
        await session.post(f"{url}/sim/reset")
        pusher = Pusher(db, UpstreamClient(session, settings), settings, SystemClock(), SyncState())
        commits = db.commits
        started = time.perf_counter()
        delivered = calls = 0
        for _ in range(10_000):
            report = await pusher.drain(force=True)
            delivered, calls = delivered + report.delivered, calls + report.calls
            if report.attempted == 0:
                break
        elapsed = time.perf_counter() - started
        async with session.get(f"{url}/sim/stats") as response:
            [agent] = (await response.json())["agents"].values()
    commit_count = db.commits - commits
    await asyncio.to_thread(db.close)
    print(
        f"{mode:>6}: {delivered:>7,} events in {elapsed:6.2f} s = {delivered / elapsed:8,.0f} events/s"
        f" | {calls:,} calls | writer: {commit_count:,} commits ({commit_count / elapsed:,.0f}/s)"
        f" | upstream unique {agent['unique']:,}, gaps {agent['gaps']}, duplicates {agent['duplicates']}"
    )


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="edge-agent-bench-"))
    try:
        started = time.perf_counter()
        fill(work / "filled.db", args.events, args.profiles)
        took = time.perf_counter() - started
        print(f"filled {args.events:,} events over {args.profiles:,} profiles in {took:.1f} s")
        sim = await servers.upstream(work / "sim", core=None)
        url = sim.url
        try:
            for mode in ("replay", "batch"):
                copy = work / f"{mode}.db"
                shutil.copy(work / "filled.db", copy)
                await run(mode, copy, url, args)
        finally:
            await sim.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--profiles", type=int, default=1_000)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--rate", type=float, default=100_000)
    asyncio.run(main(parser.parse_args()))
