"""A fleet back from one outage: N agents' real sync code against the real reference upstream.

    python bench/fleet.py --agents 300 --events-per-agent 20 --outage-s 600 --upstream-rate 150 [--json]

Every agent is what the daemon runs: its own SQLite queue (``storage.Database``), its events written by
the real write path (``storage.tracking.track``), and its real sync jobs (``sync.jobs.SyncJobs``: the
push drain, the bundle pull and the probe while the upstream is down) on its own ``ClientSession``,
with the default settings. The jobs run on the daemon's schedule (push every ``sync.push_interval_s``,
the pull tick), each agent at its own phase, as agents started at different times are. They all talk
HTTP on loopback to one reference upstream (``upstream_sim``) started with ``rate`` =
``--upstream-rate``: above it, 429 with ``Retry-After: 1``.

Time is virtual (a discrete-event clock shared by the agents and the upstream): it jumps to the next
sleep only once no agent is busy (an HTTP call or a SQLite operation in flight), so a 600 s outage takes
seconds, and every rate is measured on the upstream's clock (its per-second arrivals, ``/sim/arrivals``).
Each call also waits ``--latency-ms`` of virtual network time.

The events of every agent are written at random times during the outage, which starts with the run;
then the upstream comes back. ``drain_s`` is from its return until the last event arrived. Each event
is its own visitor (a distinct uid), so a batch call can carry up to ``sync.batch_max_items`` of one
agent's events. With ``--json`` the last line is one JSON object (see ``FIGURES``). Exit status 1 when
an event was lost or delivered twice.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import heapq
import json
import logging
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_agent.config.settings import Settings, load_settings  # noqa: E402
from edge_agent.storage.database import Database  # noqa: E402
from edge_agent.storage.profiles import SessionPolicy  # noqa: E402
from edge_agent.storage.tracking import TrackRequest, track  # noqa: E402
from edge_agent.sync.client import create_session  # noqa: E402
from edge_agent.sync.jobs import BundleHooks, SyncJobs, pull_tick_s  # noqa: E402
from edge_agent.sync.state import SyncState  # noqa: E402
from edge_agent.upstream_sim import FaultConfig, create_upstream_app  # noqa: E402
from edge_agent.upstream_sim.shared import sim_key  # noqa: E402
from tests.helpers import queued_event  # noqa: E402

T = TypeVar("T")
START = 1_800_000_000.0
DEMO_BUNDLE = ROOT / "edge_agent" / "data" / "bundle-demo.json"
FIGURES = (
    "agents", "events", "requests", "delivered_unique", "duplicates", "lost", "peak_rate_per_s",
    "rate_limit_per_s", "rejected_429", "drain_s",
)  # fmt: skip


class VirtualTime:
    """A discrete-event clock: ``sleep`` parks the caller until the clock reaches its deadline, and
    :meth:`drive` moves the clock to the earliest deadline whenever nothing is busy: no tracked
    operation in flight (:meth:`tracked`) and nothing runnable on the loop."""

    def __init__(self, start: float) -> None:
        self._now = start
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = 0
        self.busy = 0
        self._changed = asyncio.Event()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (self._now + max(0.0, seconds), self._order, future))
        self._order += 1
        self._changed.set()
        await future

    def tracked(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        """``fn`` counted as busy while it runs: time stands still until it returns."""

        @functools.wraps(fn)
        async def run(*args: Any, **kwargs: Any) -> T:
            self.busy += 1
            try:
                return await fn(*args, **kwargs)
            finally:
                self.busy -= 1
                self._changed.set()

        return run

    async def drive(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        ready = loop._ready  # type: ignore[attr-defined]  # the loop's runnable callbacks
        while not stop.is_set():
            if self.busy or not self._heap:
                self._changed.clear()
                await self._changed.wait()
                continue
            if ready:
                await asyncio.sleep(0)
                continue
            self._now = max(self._now, self._heap[0][0])
            while self._heap and self._heap[0][0] <= self._now:
                _, _, future = heapq.heappop(self._heap)
                if not future.done():
                    future.set_result(None)
            await asyncio.sleep(0)


def agent_settings(directory: Path, url: str, index: int) -> Settings:
    return load_settings(
        overrides={
            "storage": {"path": directory / f"agent-{index:04d}.db"},
            "upstream": {"url": url},
            "agent_id": f"fleet-{index:04d}",
        }
    )


def event_request(agent: int, n: int) -> TrackRequest:
    uid = f"a{agent:04d}e{n:04d}"  # each event its own visitor: the uid names the event
    body = {
        "sec": "fleet",
        "device": {"ua": "Shop/2.3.0 (Android 14; Pixel 7)", "id": f"dev-{uid}"},
        "user": {"uid": uid},
        "ctx": {"type": "HOMEPAGE", "data": [], "location": "app://home"},
        "data": [{"type": "cart", "n": n}],
    }
    return queued_event(body)


class Agent:
    """One device: its queue, its sync jobs on its own session, its events and its schedule."""

    def __init__(
        self,
        index: int,
        settings: Settings,
        vt: VirtualTime,
        rng: random.Random,
        *,
        back_at: float,
        calls: Counter[str],
    ) -> None:
        self.index, self.settings, self.vt, self.rng = index, settings, vt, rng
        self.back_at = back_at
        self.calls = calls  # the fleet's calls by phase (outage, after) and job (push, pull, probe)
        self.db = Database(settings.storage.path)
        self.state = SyncState(configured=True, state_since=vt.now())
        self.jobs: SyncJobs | None = None
        self.session: aiohttp.ClientSession | None = None

    async def open(self, latency_s: float) -> None:
        await asyncio.to_thread(self.db.open)
        # Time stands still while the agent's storage works (one SQLite file per agent, real threads).
        self.db.read = self.vt.tracked(self.db.read)  # type: ignore[method-assign]
        self.db.write = self.vt.tracked(self.db.write)  # type: ignore[method-assign]

        async def install(doc: dict[str, Any], source: str, etag: str | None) -> str:
            return str(doc["version"])  # the fleet measures sync, not bundle compilation

        async def nothing() -> None:
            return None

        hooks = BundleHooks(install=install, reload_stored=nothing)
        self.jobs = SyncJobs(
            self.db, self.settings, self.vt, self.state, hooks, rng=self.rng, sleep=self.vt.sleep
        )
        self.session = create_session(self.settings)
        self.jobs.bind(self.session)
        assert self.jobs.drainer is not None and self.jobs.drainer.client is not None
        client = self.jobs.drainer.client  # the one client of push, pull and probe
        send = self.vt.tracked(client._send)

        async def over_the_network(method: str, path: str, **kwargs: Any) -> Any:
            await self.vt.sleep(latency_s)
            result = await send(method, path, **kwargs)
            phase = "outage" if self.vt.now() < self.back_at else "after"
            job = "probe" if method == "HEAD" else "pull" if path.endswith("/bundle") else "push"
            self.calls[f"{phase}:{job}"] += 1
            if result.status == 429:
                self.calls[f"{phase}:{job}:429"] += 1
            return result

        client._send = over_the_network  # type: ignore[method-assign]

    async def write_events(self, times: list[float]) -> None:
        policy = SessionPolicy()
        for n, at in enumerate(sorted(times)):
            await self.vt.sleep(at - self.vt.now())
            request, now = event_request(self.index, n), self.vt.now()
            await self.db.write(lambda conn, r=request, t=now: track(conn, r, t, policy))  # type: ignore[misc]

    async def run_schedule(self, done: asyncio.Event) -> None:
        """The daemon's job schedule (APScheduler's interval triggers), at this agent's own phase."""
        assert self.jobs is not None
        push_every, tick = self.settings.sync.push_interval_s, pull_tick_s(self.settings)
        next_push = self.vt.now() + self.rng.uniform(0, push_every)
        next_tick = self.vt.now() + self.rng.uniform(0, tick)
        while not done.is_set():
            await self.vt.sleep(min(next_push, next_tick) - self.vt.now())
            now = self.vt.now()
            if next_push <= now:
                await self.jobs.push()
                next_push += push_every * max(1, int((self.vt.now() - next_push) // push_every) + 1)
            if next_tick <= now:
                await self.jobs.pull_tick()
                next_tick += tick * max(1, int((self.vt.now() - next_tick) // tick) + 1)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        await asyncio.to_thread(self.db.close)


def delivered(sim_db: Path) -> tuple[int, int, int]:
    """``(unique items, events delivered under two keys, events delivered)`` from the upstream's file."""
    conn = sqlite3.connect(sim_db)
    try:
        unique = conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        twice = conn.execute(
            "SELECT COUNT(*) FROM (SELECT agent, uid FROM items GROUP BY agent, uid HAVING COUNT(*) > 1)"
        ).fetchone()[0]
        events = conn.execute("SELECT COUNT(*) FROM (SELECT DISTINCT agent, uid FROM items)").fetchone()[0]
    finally:
        conn.close()
    return unique, twice, events


def peak_at(seconds: list[dict[str, int]], start: float) -> float | None:
    """When the busiest second began, in seconds from the start of the run (the outage's start)."""
    if not seconds:
        return None
    busiest = max(seconds, key=lambda s: s["accepted"] + s["refused"])
    return busiest["second"] - start


async def run(args: argparse.Namespace) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="edge-agent-fleet-"))
    try:
        return await _run(args, directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def _run(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    wall = time.monotonic()
    rng = random.Random(args.seed)
    vt = VirtualTime(START)
    back_at = START + args.outage_s
    sim_dir = directory / "upstream"
    (sim_dir / "bundles").mkdir(parents=True)
    shutil.copy(DEMO_BUNDLE, sim_dir / "bundles" / "0001-demo.json")
    app = create_upstream_app(
        sim_dir, faults=FaultConfig(outage_until=back_at), clock=vt, rate=args.upstream_rate
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    sim = app[sim_key]
    expected = args.agents * args.events_per_agent
    done = asyncio.Event()
    last_delivery = [back_at]
    record = sim.store.record

    async def counting(items: Any, arrived_at: float) -> list[bool]:
        fresh = await record(items, arrived_at)
        if any(fresh):
            last_delivery[0] = max(last_delivery[0], arrived_at)
            counting.total += sum(fresh)  # type: ignore[attr-defined]
            if counting.total >= expected:  # type: ignore[attr-defined]
                done.set()
        return fresh

    counting.total = 0  # type: ignore[attr-defined]
    sim.store.record = counting  # type: ignore[method-assign]

    calls: Counter[str] = Counter()
    agents = [
        Agent(
            i,
            agent_settings(directory, f"http://127.0.0.1:{port}", i),
            vt,
            random.Random(rng.random()),
            back_at=back_at,
            calls=calls,
        )
        for i in range(args.agents)
    ]
    for agent in agents:
        await agent.open(args.latency_ms / 1000)
    stop = asyncio.Event()
    driver = asyncio.create_task(vt.drive(stop))
    tasks = []
    for agent in agents:
        times = [START + agent.rng.uniform(0, args.outage_s) for _ in range(args.events_per_agent)]
        tasks.append(asyncio.create_task(agent.write_events(times)))
        tasks.append(asyncio.create_task(agent.run_schedule(done)))

    async def deadline() -> None:
        await vt.sleep(args.outage_s + args.max_drain_s)
        done.set()

    tasks.append(asyncio.create_task(deadline()))
    try:
        await asyncio.wait_for(done.wait(), timeout=args.wall_timeout_s)
    except TimeoutError:
        print(f"wall-clock timeout after {args.wall_timeout_s:.0f} s", file=sys.stderr)
    finished_at = vt.now()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    stop.set()
    vt._changed.set()
    await driver
    arrivals = sim.limiter.report()
    if args.arrivals is not None:
        with args.arrivals.open("w") as out:
            for second in arrivals["seconds"]:
                print(json.dumps(second | {"at_s": second["second"] - START}), file=out)
    for agent in agents:
        await agent.close()
    await runner.cleanup()
    unique, twice, events = delivered(sim_dir / "upstream.db")
    requests = arrivals["accepted"] + arrivals["refused"]
    figures = {
        "agents": args.agents,
        "events": expected,
        "requests": requests,
        "delivered_unique": unique,
        "duplicates": twice,
        "lost": expected - events,
        "peak_rate_per_s": arrivals["peakPerS"],
        "rate_limit_per_s": args.upstream_rate,
        "rejected_429": arrivals["refused"],
        "drain_s": round(last_delivery[0] - back_at, 1),
        "share_429": round(arrivals["refused"] / requests, 4) if requests else 0.0,
        "outage_s": args.outage_s,
        "virtual_s": round(finished_at - START, 1),
        "wall_s": round(time.monotonic() - wall, 1),
        "peak_at_s": peak_at(arrivals["seconds"], START),
        "calls_by_job": dict(sorted(calls.items())),
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=30)
    parser.add_argument("--events-per-agent", type=int, default=10)
    parser.add_argument("--outage-s", type=float, default=600.0)
    parser.add_argument("--upstream-rate", type=float, default=30.0)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="virtual network time per call")
    parser.add_argument("--max-drain-s", type=float, default=3600.0, help="virtual seconds after the outage")
    parser.add_argument("--wall-timeout-s", type=float, default=1800.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="end with one line of JSON")
    parser.add_argument("--arrivals", type=Path, help="write the upstream's per-second arrivals (JSON lines)")
    args = parser.parse_args()
    # N agents each log every failed pull of the outage: only errors are worth showing here.
    logging.basicConfig(level=logging.ERROR)
    figures = asyncio.run(run(args))
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>18}: {value}")
    if figures["lost"] or figures["duplicates"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
