"""The drain phase of ``bench/run`` in ~1 minute: ``/choose`` latency while the agent drains a backlog.

    python bench/drain_choose.py [--events 150000] [--profiles 1000] [--seconds 8] [batch] [replay] [idle]

Fills an outbox once through the agent's real write path (``storage.tracking.track``, the SDKs'
``/event add-to-cart`` body, N events over P profiles as in the suite's queue phase; cached in
``$TMPDIR/edge-agent-drain-choose``), then per mode copies it, starts the reference upstream and the agent
(``servers.drain_env``: max_rate 100000, 16 in flight), and while the agent drains, ``/choose`` takes the
suite's paced load (32 connections, 64 ms pause after each answer, ≈ 500 req/s). Prints drained events/s
and /choose p50/p99/p99.9. ``idle`` is the same load on the same database with no upstream: the floor.
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

import sdk_calls
import servers
import wrk

sys.path.insert(0, str(servers.ROOT))

from edge_agent.storage.database import Database
from edge_agent.storage.profiles import SessionPolicy
from edge_agent.storage.tracking import track
from tests.helpers import queued_event


def fill(path: Path, events: int, profiles: int) -> None:
    """``events`` /event add-to-cart bodies over ``profiles`` uids, in transactions of 2,000."""
    db = Database(path)
    db.open()
    policy, now = SessionPolicy(), time.time()
    users = [{"uid": f"bench-{p:05d}", "ses": ""} for p in range(profiles)]

    def chunk(conn: sqlite3.Connection, start: int, stop: int) -> None:
        for i in range(start, stop):
            body = sdk_calls.add_to_cart(users[i % profiles], i % profiles)
            body["user"]["ses"] = None
            track(conn, queued_event(body), now, policy)

    for start in range(0, events, 2000):
        db.write_sync(lambda conn, start=start: chunk(conn, start, min(events, start + 2000)))  # type: ignore[misc]
    db.close()


async def one(mode: str, filled: Path, work: Path, seconds: float) -> None:
    data = work / mode
    data.mkdir()
    shutil.copy(filled, data / "agent.db")
    upstream = await servers.upstream(work / f"upstream-{mode}") if mode != "idle" else None
    env = servers.drain_env(upstream.url, mode) if upstream else {}
    agent = await servers.agent(data, env=env)
    try:
        users = await sdk_calls.create_profiles(agent.url, 50, first=10_000)
        load = sdk_calls.demo_loads(users, [])["/choose single"]
        if upstream:
            for _ in range(100):  # the first drain starts within push_interval_s
                if await servers.delivered(upstream) > 0:
                    break
                await asyncio.sleep(0.1)
            n0 = await servers.delivered(upstream)
        t0 = time.perf_counter()
        fig = await wrk.run(agent.url, load, seconds=seconds, connections=32, threads=1, delay_ms=64)
        rate = (await servers.delivered(upstream) - n0) / (time.perf_counter() - t0) if upstream else 0.0
    finally:
        await agent.stop()
        if upstream:
            await upstream.stop()
    print(
        f"{mode:>6}: {rate:8,.0f} events/s | /choose {fig.rps:4.0f} req/s p50 {fig.p50_ms:6.2f} ms"
        f" p99 {fig.p99_ms:7.2f} ms p99.9 {fig.p999_ms:7.2f} ms errors {fig.errors}",
        flush=True,
    )


async def main(args: argparse.Namespace) -> None:
    cache = Path(tempfile.gettempdir()) / "edge-agent-drain-choose"
    cache.mkdir(exist_ok=True)
    filled = cache / f"filled-{args.events}-{args.profiles}.db"
    if not filled.exists():
        started = time.perf_counter()
        fill(cache / "filling.db", args.events, args.profiles)
        (cache / "filling.db").rename(filled)
        took = time.perf_counter() - started
        print(f"filled {args.events:,} events over {args.profiles:,} profiles in {took:.0f} s")
    with tempfile.TemporaryDirectory(prefix="edge-agent-drain-choose-") as tmp:
        for mode in args.modes or ["batch", "replay"]:
            await one(mode, filled, Path(tmp), args.seconds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modes", nargs="*", choices=["batch", "replay", "idle"])
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument("--profiles", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    asyncio.run(main(parser.parse_args()))
