"""The real daemon (and the reference upstream) as subprocesses on loopback, for kill and soak tests."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
SIMULATOR = "edge_agent.upstream_sim.command"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_agent(db: Path, port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``edge-agent serve`` on ``db``; its log goes next to the file (``agent.log``)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "EDGE_AGENT_LOGGING__LEVEL": "WARNING", **(env or {})}
    with open(db.with_suffix(".log"), "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "serve", "--port", str(port), "--db", str(db)],
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def start_upstream(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """The reference upstream (``upstream-sim``) with its own state directory."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(data_dir.with_suffix(".log"), "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", SIMULATOR, "--data", str(data_dir), "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


async def wait_ready(
    session: aiohttp.ClientSession, url: str, proc: subprocess.Popen[bytes], seconds: float = 30
) -> None:
    """Poll ``url`` until it answers 200; fail if the process exits first or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"process exited ({proc.returncode}) before {url} answered"
        try:
            async with session.get(url) as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} did not answer 200 in {seconds:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
