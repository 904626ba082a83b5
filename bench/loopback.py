"""What the benchmarks that start a server process share: a free loopback port, and waiting for it."""

from __future__ import annotations

import asyncio
import socket

import aiohttp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_until_ok(session: aiohttp.ClientSession, url: str, *, seconds: float = 30.0) -> None:
    """Poll ``url`` until it answers 200; exit the benchmark if it does not within ``seconds``."""
    for _ in range(int(seconds / 0.1)):
        try:
            async with session.get(url) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not answer 200 in {seconds:.0f} s")
