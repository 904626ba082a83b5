"""Throughput and latency of POST /event against a real agent process on loopback.

Usage: python bench/ingest.py [--requests 20000] [--concurrency 32] [--synchronous FULL|NORMAL]
Prints requests/s, p50/p99 latency and how many writes each SQLite commit carried (group commit).
Bounded: stops after --requests or --seconds, whichever comes first.
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

BODY = {
    "sec": "6819e7c0d7303f0f6b0ef263",
    "device": {"ua": "Shop/2.3.0 (Android 14; Pixel 7)", "id": "", "tracking": "notSupported"},
    "user": {},
    "ctx": {
        "type": "CART",
        "data": ["sku-1001"],
        "location": "app://cart",
        "attributes": {"app_version": "2.3.0"},
    },
    "options": {"isReturnCounter": False, "isReturnUserInfo": False},
    "data": [
        {
            "type": "add-to-cart-v1",
            "name": "Add to Cart",
            "value": 5990.0,
            "productId": "sku-1001",
            "quantity": 1,
            "currency": "RUB",
            "cart": [{"productId": "sku-1001", "quantity": 1, "itemPrice": 5990.0}] * 8,
        }
    ],
}


def synchronous_env(synchronous: str) -> dict[str, str]:
    return {"EDGE_AGENT_STORAGE__SYNCHRONOUS": synchronous}


async def run(args: argparse.Namespace, base: str) -> None:
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        deadline = started + args.seconds
        counter = iter(range(args.requests))

        async def worker(n: int) -> None:
            nonlocal errors
            body = {**BODY, "device": {**BODY["device"], "id": f"device-{n}"}}
            for _ in counter:
                if time.perf_counter() > deadline:
                    return
                t0 = time.perf_counter()
                async with session.post(f"{base}/event", json=body) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker(n) for n in range(args.concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    print(f"POST /event  synchronous={args.synchronous}  concurrency={args.concurrency}")
    print(f"requests: {len(latencies)}  errors: {errors}  elapsed: {elapsed:.2f} s")
    print(f"throughput: {len(latencies) / elapsed:,.0f} req/s")
    print(f"latency: p50 {q[49] * 1000:.2f} ms  p99 {q[98] * 1000:.2f} ms  max {latencies[-1] * 1000:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL")
    asyncio.run(serve_and_run(parser.parse_args()))


async def serve_and_run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # not pinned: the Python client here takes a core of its own
        agent = await servers.agent(Path(tmp), env=synchronous_env(args.synchronous), core=None)
        try:
            await run(args, agent.url)
        finally:
            await agent.stop()


if __name__ == "__main__":
    main()
