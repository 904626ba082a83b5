"""The processes the suite measures, each started on loopback and pinned to the server core: the hello
server, the agent (``edge-agent serve``), the Unleash proxy and the reference upstream."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import aiohttp
import unleash
from loopback import free_port, ready_after
from wrk import pin

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
DEMO_BUNDLE = ROOT / "edge_agent" / "data" / "bundle-demo.json"
SERVER_CORE = 0
CLIENT_CORE = 1
AGENT_ENV = {
    "PYTHONPATH": str(ROOT),
    "EDGE_AGENT_LOGGING__LEVEL": "WARNING",
    # The queue phase holds a million events and more: above the default bound of the outbox.
    "EDGE_AGENT_QUEUE__MAX_ROWS": "5000000",
    "EDGE_AGENT_QUEUE__MAX_BYTES": str(16 << 30),
}


def log_sink(log: Path | None) -> int | IO[bytes]:
    """Where a child's stderr goes: appended to ``log`` (the child has its own descriptor: close this one
    once it started), or nowhere."""
    if log is None:
        return asyncio.subprocess.DEVNULL
    log.parent.mkdir(parents=True, exist_ok=True)
    return open(log, "ab")


def base_env() -> dict[str, str]:
    """This process's environment for a server, less ``PYTHONDONTWRITEBYTECODE``: an installed agent runs
    from compiled bytecode (pip compiles it), so its servers here may write and read ``__pycache__``."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def drain_env(upstream_url: str, mode: str) -> dict[str, str]:
    """The agent's settings to drain to ``upstream_url`` as fast as it can: pacing far above the defaults
    (50 calls/s, 4 in flight), no start jitter, so the figure shows what the code and the machine do."""
    return {
        "EDGE_AGENT_UPSTREAM__URL": upstream_url, "EDGE_AGENT_SYNC__MODE": mode,
        "EDGE_AGENT_SYNC__MAX_RATE": "100000", "EDGE_AGENT_SYNC__MAX_IN_FLIGHT": "16",
        "EDGE_AGENT_SYNC__START_JITTER_S": "0", "EDGE_AGENT_SYNC__PUSH_INTERVAL_S": "1",
    }  # fmt: skip


@dataclass
class Server:
    name: str
    proc: asyncio.subprocess.Process
    url: str
    db: Path | None = None
    ready_s: float = 0.0  # from exec to the first 200 of its ready route
    extra: list[object] = field(default_factory=list)  # what stops with it (the proxy's stub upstream)

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        for thing in self.extra:
            await thing.stop()  # type: ignore[attr-defined]


async def spawn(
    name: str, args: list[str], *, ready: str, env: dict[str, str] | None = None, cwd: Path = ROOT,
    db: Path | None = None, log: Path | None = None, core: int | None = SERVER_CORE, port: int = 0,
) -> Server:  # fmt: skip
    port = port or free_port()
    args = [a.replace("{port}", str(port)) for a in args]
    sink = log_sink(log)
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *pin(core), *args, env={**base_env(), **(env or {})}, cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL, stderr=sink,
    )  # fmt: skip
    if not isinstance(sink, int):
        sink.close()
    url = f"http://127.0.0.1:{port}"
    server = Server(name, proc, url, db)
    server.ready_s = await ready_after(url + ready, proc, started)
    return server


async def hello(log: Path) -> Server:
    return await spawn(
        "hello", [sys.executable, str(BENCH / "hello.py"), "--port", "{port}"], ready="/", log=log
    )


async def agent(
    data: Path, bundle: Path = DEMO_BUNDLE, *, env: dict[str, str] | None = None, port: int = 0,
    core: int | None = SERVER_CORE,
) -> Server:  # fmt: skip
    """``edge-agent serve`` on a data directory (``agent.db`` and ``agent.log`` in it), pinned to ``core``
    (None: not pinned)."""
    db = data / "agent.db"
    args = [sys.executable, "-m", "edge_agent", "serve", "--port", "{port}", "--db", str(db)]
    return await spawn(
        "agent", [*args, "--bundle", str(bundle)], ready="/readyz", env={**AGENT_ENV, **(env or {})},
        db=db, log=data / "agent.log", port=port, core=core,
    )  # fmt: skip


async def unleash_proxy(log: Path) -> Server:
    stub = unleash.StubUpstream()
    upstream_url = await stub.start(free_port())
    port = free_port()
    server = await spawn(
        "unleash-proxy", unleash.command(), ready="/proxy/health", cwd=unleash.CACHE, log=log, port=port,
        env=unleash.environment(port, upstream_url),
    )  # fmt: skip
    server.extra.append(stub)
    return server


async def upstream(data: Path, core: int | None = CLIENT_CORE) -> Server:
    """The reference upstream (edge_agent.upstream_sim), by default on the client core: it is not
    measured. Its log is ``upstream.log`` beside ``data``."""
    args = [sys.executable, "-m", "edge_agent.upstream_sim.command", "--data", str(data), "--port", "{port}"]
    return await spawn("upstream", args, ready="/sim/stats", core=core, log=data.parent / "upstream.log")


async def delivered(upstream: Server) -> int:
    """Unique events the reference upstream has received, from every agent."""
    async with aiohttp.ClientSession() as session, session.get(f"{upstream.url}/sim/stats") as response:
        stats = await response.json()
    return sum(int(agent["unique"]) for agent in stats["agents"].values())


async def sim_reset(upstream: Server) -> None:
    """The reference upstream forgets what it received (``POST /sim/reset``)."""
    async with aiohttp.ClientSession() as session, session.post(f"{upstream.url}/sim/reset") as response:
        response.raise_for_status()
