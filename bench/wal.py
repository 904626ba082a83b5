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
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
import servers
from ingest import BODY, synchronous_env
from loopback import WalWatch

MiB = 1024 * 1024


async def run(seconds: float, concurrency: int, idle_s: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        agent = await servers.agent(Path(tmp), env=synchronous_env("FULL"), core=None)
        db, base = agent.db, agent.url
        assert db is not None
        try:
            async with aiohttp.ClientSession() as session:
                done = 0
                errors = 0
                latencies: list[float] = []
                deadline = time.monotonic() + seconds

                async def worker() -> None:
                    nonlocal done, errors
                    while time.monotonic() < deadline:
                        sent = time.perf_counter()
                        async with session.post(f"{base}/event", json=BODY) as response:
                            await response.read()
                            latencies.append(time.perf_counter() - sent)
                            done += 1
                            errors += response.status != 200

                watch = WalWatch(db, every=0.05)
                started = time.monotonic()
                await asyncio.gather(*(worker() for _ in range(concurrency)))
                elapsed = time.monotonic() - started
                after_load = watch.size()
                await asyncio.sleep(idle_s)
                peak = watch.stop()
            print(
                f"load: {done} POST /event in {elapsed:.1f} s ({done / elapsed:,.0f} req/s), {errors} errors"
            )
            cuts = statistics.quantiles(latencies, n=100)
            print(f"latency: p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms")
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
