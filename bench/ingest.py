"""Throughput and latency of POST /event against a real agent process on loopback.

Usage: python bench/ingest.py [--requests 20000] [--concurrency 32] [--synchronous FULL|NORMAL]
Prints requests/s and p50/p99 latency (the writer commits the calls in groups).
Bounded: stops after --requests or --seconds, whichever comes first.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import servers
from loopback import p50_p99_ms

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


@dataclass
class Posted:
    latencies: list[float] = field(default_factory=list)  # seconds, one per answered call
    errors: int = 0  # answers other than 200
    seconds: float = 0.0


async def post_events(base: str, *, concurrency: int, seconds: float, requests: int | None = None) -> Posted:
    """``concurrency`` workers, each its own device (a profile each), posting ``BODY`` to ``/event`` one
    call after another until ``seconds`` pass or ``requests`` calls were sent in all."""
    out = Posted()
    counter = itertools.count() if requests is None else iter(range(requests))
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        deadline = started + seconds

        async def worker(n: int) -> None:
            body = {**BODY, "device": {**BODY["device"], "id": f"device-{n}"}}
            for _ in counter:
                if time.perf_counter() > deadline:
                    return
                t0 = time.perf_counter()
                async with session.post(f"{base}/event", json=body) as resp:
                    await resp.read()
                    out.errors += resp.status != 200
                out.latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        out.seconds = time.perf_counter() - started
    return out


async def run(args: argparse.Namespace, base: str) -> None:
    posted = await post_events(
        base, concurrency=args.concurrency, seconds=args.seconds, requests=args.requests
    )
    p50, p99 = p50_p99_ms(posted.latencies)
    done, elapsed = len(posted.latencies), posted.seconds
    print(f"POST /event  synchronous={args.synchronous}  concurrency={args.concurrency}")
    print(f"requests: {done}  errors: {posted.errors}  elapsed: {elapsed:.2f} s")
    print(f"throughput: {done / elapsed:,.0f} req/s")
    print(f"latency: p50 {p50:.2f} ms  p99 {p99:.2f} ms  max {max(posted.latencies) * 1000:.2f} ms")


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
