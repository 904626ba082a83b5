"""How large the SQLite WAL grows under sustained POST /event load, and whether it shrinks once idle.

Usage: python bench/wal.py [--seconds 20] [--concurrency 32] [--idle-s 5]
Starts a real agent process on loopback, posts add-to-cart events for --seconds (at most 60), samples the
``-wal`` file every 50 ms, then waits --idle-s with no load. Prints the requests served with their p50/p99
latency (a WAL restart holds the writer for a moment), the peak WAL size and the WAL size after the idle
wait.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import servers
from ingest import post_events, synchronous_env
from loopback import WalWatch, p50_p99_ms

MiB = 1024 * 1024


async def run(seconds: float, concurrency: int, idle_s: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        agent = await servers.agent(Path(tmp), env=synchronous_env("FULL"), core=None)
        db, base = agent.db, agent.url
        assert db is not None
        try:
            watch = WalWatch(db, every=0.05)
            posted = await post_events(base, concurrency=concurrency, seconds=seconds)
            after_load = watch.size()
            await asyncio.sleep(idle_s)
            peak = watch.stop()
            done, elapsed = len(posted.latencies), posted.seconds
            rate = done / elapsed
            print(f"load: {done} POST /event in {elapsed:.1f} s ({rate:,.0f} req/s), {posted.errors} errors")
            p50, p99 = p50_p99_ms(posted.latencies)
            print(f"latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
            print(f"WAL peak under load: {peak:.1f} MiB; when it stopped: {after_load / MiB:.1f} MiB")
            print(f"WAL after {idle_s:.0f} s idle: {watch.size() / MiB:.1f} MiB")
        finally:
            await agent.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="load duration (at most 60)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--idle-s", type=float, default=5.0, help="wait with no load before the last sample")
    args = parser.parse_args()
    asyncio.run(run(min(args.seconds, 60.0), args.concurrency, args.idle_s))


if __name__ == "__main__":
    main()
