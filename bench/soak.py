"""Soak: steady SDK load for a long time while the upstream flaps; nothing accepted may be lost.

Usage: python bench/soak.py [--duration 600] [--flap-s 30] [--rate 100] [--concurrency 4] [--profiles 200]
                            [--json]

Starts the reference upstream and an agent process on loopback. Writers post /event and /visit (each
carrying a unique id) at --rate requests/s in total; every --flap-s seconds the upstream switches between
an outage (every data call answers 503) and normal service. At the end the upstream stays up until the
agent's queue is empty (at most --settle-s), then it prints:

    accepted    writes answered 200
    delivered   accepted writes the upstream holds
    duplicates  items the upstream received more than once
    undelivered accepted writes still queued in the agent at the end (the drain did not catch up)
    lost        accepted writes neither upstream nor queued (must be 0: exit 1 otherwise)
    p50/p99     client latency of the writes
    peak RSS    the agent process's high-water mark (VmHWM)

Bounded: the load stops after --duration, the drain wait after --settle-s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import servers
from loopback import p50_p99_ms, peak_rss_mib

SEC = "6819e7c0d7303f0f6b0ef263"


def body_for(path: str, device: int, marker: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sec": SEC,
        "device": {"ua": "Shop/2.3.0 (Android 14; Pixel 7)", "id": f"soak-{device}"},
        "user": {},
        "ctx": {"type": "HOMEPAGE", "data": [], "location": marker},
    }
    if path == "/event":
        body["data"] = [{"type": "tap", "name": marker}]
    else:
        body["type"] = "screenview"
    return body


def marker_of(body: Any) -> str | None:
    if isinstance(body, dict):
        location = body.get("ctx", {}).get("location")
        return str(location) if location is not None else None
    return None


def queued_markers(db: Path) -> set[str]:
    """The writes still in the agent's outbox (read after it stopped)."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT body FROM outbox WHERE path IN ('/event', '/visit')").fetchall()
    finally:
        conn.close()
    return {m for (body,) in rows if (m := marker_of(json.loads(body))) is not None}


class Soak:
    def __init__(self, args: argparse.Namespace, base: str, sim: str) -> None:
        self.args, self.base, self.sim = args, base, sim
        self.accepted: set[str] = set()
        self.latencies: list[float] = []
        self.refused = 0
        self.flaps = 0
        self.upstream: set[str] = set()

    async def writer(self, session: aiohttp.ClientSession, worker: int, deadline: float) -> None:
        interval = self.args.concurrency / self.args.rate
        n = 0
        next_at = time.monotonic()
        while time.monotonic() < deadline:
            path = "/event" if n % 2 == 0 else "/visit"
            marker = f"w{worker}-{n}"
            # Many profiles, as at a busy kiosk; a batch carries one row per profile.
            device = (n * self.args.concurrency + worker) % self.args.profiles
            n += 1
            t0 = time.perf_counter()
            try:
                async with session.post(self.base + path, json=body_for(path, device, marker)) as resp:
                    await resp.read()
                    if resp.status == 200:
                        self.accepted.add(marker)
                    else:
                        self.refused += 1
            except (TimeoutError, aiohttp.ClientError):
                self.refused += 1
            self.latencies.append(time.perf_counter() - t0)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def flapper(self, session: aiohttp.ClientSession, deadline: float) -> None:
        down = False
        while time.monotonic() + self.args.flap_s < deadline:
            await asyncio.sleep(self.args.flap_s)
            down = not down
            self.flaps += 1
            async with session.post(f"{self.sim}/sim/faults", json={"outage": True} if down else {}) as resp:
                resp.raise_for_status()
        async with session.post(f"{self.sim}/sim/faults", json={}) as resp:  # up for the final drain
            resp.raise_for_status()

    async def settle(self, session: aiohttp.ClientSession) -> float:
        started = time.monotonic()
        while time.monotonic() - started < self.args.settle_s:
            async with session.get(f"{self.base}/status") as resp:
                if (await resp.json())["queue"]["pending"] == 0:
                    break
            await asyncio.sleep(0.25)
        return time.monotonic() - started

    async def run(self) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            deadline = time.monotonic() + self.args.duration
            writers = [self.writer(session, w, deadline) for w in range(self.args.concurrency)]
            await asyncio.gather(self.flapper(session, deadline), *writers)
            settle_s = await self.settle(session)
            async with session.get(f"{self.sim}/sim/received") as resp:
                items = (await resp.json())["items"]
            async with session.get(f"{self.sim}/sim/stats") as resp:
                agents = (await resp.json())["agents"]
        self.upstream = {m for item in items if (m := marker_of(item.get("body"))) is not None}
        upstream = self.upstream
        p50, p99 = p50_p99_ms(self.latencies)
        return {
            "duration_s": self.args.duration,
            "flap_s": self.args.flap_s,
            "flaps": self.flaps,
            "accepted": len(self.accepted),
            "refused": self.refused,
            "delivered": len(self.accepted & upstream),
            "duplicates": sum(a["duplicates"] for a in agents.values()),
            "gaps": sum(a["gaps"] for a in agents.values()),
            "undelivered": len(self.accepted - upstream),
            "p50_ms": round(p50, 2),
            "p99_ms": round(p99, 2),
            "settle_s": round(settle_s, 2),
        }


async def soak(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The upstream and the agent (not pinned: the writers share the machine), the soak, then what
    neither the upstream nor the agent's outbox holds: lost."""
    upstream = await servers.upstream(work / "sim", core=None)
    env = {
        "EDGE_AGENT_UPSTREAM__URL": upstream.url,
        "EDGE_AGENT_SYNC__PUSH_INTERVAL_S": "0.5",
        "EDGE_AGENT_SYNC__START_JITTER_S": "0",
        "EDGE_AGENT_SYNC__BACKOFF_MAX_S": "2",
    }
    try:
        agent = await servers.agent(work, env=env, core=None)
        try:
            run = Soak(args, agent.url, upstream.url)
            figures = await run.run()
            figures["peak_rss_mib"] = round(peak_rss_mib(agent.pid), 1)
        finally:
            await agent.stop()
    finally:
        await upstream.stop()
    assert agent.db is not None
    figures["lost"] = len(run.accepted - run.upstream - queued_markers(agent.db))
    figures["agent_errors_logged"] = (work / "agent.log").read_text(errors="replace").count(" ERROR ")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (default 600)")
    parser.add_argument("--flap-s", type=float, default=30.0, help="upstream down/up period (default 30)")
    parser.add_argument("--rate", type=float, default=100.0, help="writes per second in total")
    parser.add_argument("--concurrency", type=int, default=4, help="writers")
    parser.add_argument("--profiles", type=int, default=200, help="distinct devices (profiles) writing")
    parser.add_argument("--settle-s", type=float, default=120.0, help="longest wait for the final drain")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(soak(args, Path(tmp)))
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"soak {figures['duration_s']:.0f} s, upstream flapping every {figures['flap_s']:g} s")
        keys = ("flaps", "accepted", "refused", "delivered", "undelivered", "duplicates", "gaps", "lost")
        for key in (*keys, "settle_s", "agent_errors_logged"):
            print(f"{key:>19}: {figures[key]}")
        print(f"{'latency':>19}: p50 {figures['p50_ms']} ms  p99 {figures['p99_ms']} ms")
        print(f"{'peak RSS':>19}: {figures['peak_rss_mib']} MiB")
    sys.exit(1 if figures["lost"] else 0)


if __name__ == "__main__":
    main()
