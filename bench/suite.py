"""The benchmark suite as one command (``bench/run``): every figure of docs/performance.md from one run.

    bench/run [--quick] [--json] [--no-peer]        the full suite (7–10 min; --quick ≈ 3 min)
    bench/run --guard [--write-baseline]            the CI regression guard (< 2 min), see guard.py

On loopback, each server pinned to core 0 and ``wrk -t2 -c32`` pinned to core 1, it measures the bare
aiohttp hello server, the agent with the demo bundle, the agent with a generated 200-campaign / 50-segment
bundle, and the Unleash proxy (the peer). Per load: requests/s, p50/p99/p99.9, errors, the server's CPU per
request (utime + stime from /proc) and its peak RSS (VmHWM, reset before each load), and the ratios to
hello and to the peer. Then: one-connection latency, startup to ready, idle RSS, RSS after N queued
events, database size per million events, and the drain rate in replay and batch mode against the
reference upstream while ``/choose`` takes a concurrent 500 req/s. Figures are ratios within one run:
on a shared machine absolute times move with the load; ratios move far less.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import guard
import sdk_calls
import servers
import unleash
import wrk
from generate import generate_bundle
from loopback import cpu_seconds, machine, peak_rss_mib, reset_peak_rss, rss_mib
from servers import Server


@dataclass(frozen=True)
class Sizes:
    """How long and how big each part runs: the full suite, or ``--quick``."""

    warmup_s: float = 2.0
    seconds: float = 10.0
    one_connection_s: float = 5.0
    profiles: int = 1000
    queue_events: int = 1_000_000
    queue_cap_s: float = 180.0  # the queue fill stops here even short of queue_events (then extrapolated)
    drain_s: float = 12.0
    startups: int = 3
    reference_s: float = 2.0  # each hello run between two measured loads


FULL = Sizes()
QUICK = Sizes(warmup_s=1.0, seconds=3.0, one_connection_s=3.0, profiles=200, queue_events=100_000,
              queue_cap_s=40.0, drain_s=5.0, startups=2, reference_s=1.0)  # fmt: skip


@dataclass
class Row:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    errors: int
    cpu_us: float  # the server's CPU time per answered request
    peak_rss_mib: float
    hello_at: int = 0  # index in Results.hello_runs of the hello run just after this row
    hello_rps: float = 0.0  # the reference: median of the two hello runs before and the two after this row
    hello_cpu_us: float = 0.0
    x_hello: float | None = None
    x_hello_cpu: float | None = None  # hello's CPU per request over this row's
    x_peer: float | None = None


@dataclass
class Results:
    machine: dict[str, Any]
    mode: str
    rows: dict[str, Row] = field(default_factory=dict)
    generated: dict[str, Row] = field(default_factory=dict)
    hello_runs: list[float] = field(default_factory=list)
    hello_cpu_runs: list[float] = field(default_factory=list)
    peer: str = "@unleash/proxy " + unleash.VERSION
    one_connection: dict[str, Row] = field(default_factory=dict)
    startup_s: list[float] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)
    drain: dict[str, Any] = field(default_factory=dict)
    wal_max_mib: float = 0.0
    peak_rss_max_mib: float = 0.0


HELLO_LOAD = wrk.Load([wrk.Call("GET", "/")])


class Yardstick:
    """Short hello runs between the measured runs. A row's reference is the median of the two hello runs
    before it and the two after: a change in the machine's load moves both sides of its ratio, and one
    hello run caught in a burst from elsewhere does not move it."""

    def __init__(self, hello: Server, results: Results, seconds: float) -> None:
        self.hello, self.results, self.seconds = hello, results, seconds

    async def sample(self) -> None:
        cpu = cpu_seconds(self.hello.pid)
        fig = await wrk.run(self.hello.url, HELLO_LOAD, seconds=self.seconds)
        self.results.hello_runs.append(fig.rps)
        self.results.hello_cpu_runs.append((cpu_seconds(self.hello.pid) - cpu) / max(1, fig.requests) * 1e6)

    async def bracket(self, row: Row) -> Row:
        """Call right after ``row`` was measured; ``sample()`` must have run just before it."""
        await self.sample()
        row.hello_at = len(self.results.hello_runs) - 1
        return row


class WalWatch:
    """The largest size the agent's WAL file reached while it ran (polled every 0.2 s)."""

    def __init__(self, db: Path) -> None:
        self.wal = Path(f"{db}-wal")
        self.max_bytes = 0
        self.task = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        while True:
            with contextlib.suppress(OSError):
                self.max_bytes = max(self.max_bytes, self.wal.stat().st_size)
            await asyncio.sleep(0.2)

    def stop(self) -> float:
        self.task.cancel()
        return self.max_bytes / 2**20


async def measure(
    server: Server, name: str, load: wrk.Load, sizes: Sizes, *, connections: int = 32, seconds: float = 0.0
) -> Row:
    """Warm up, then one measured wrk run with the server's CPU and peak RSS around it."""
    if sizes.warmup_s:
        await wrk.run(server.url, load, seconds=sizes.warmup_s, connections=connections)
    reset_peak_rss(server.pid)
    cpu = cpu_seconds(server.pid)
    fig = await wrk.run(server.url, load, seconds=seconds or sizes.seconds, connections=connections)
    cpu = cpu_seconds(server.pid) - cpu
    return Row(
        name, fig.rps, fig.p50_ms, fig.p99_ms, fig.p999_ms, fig.errors,
        cpu / fig.requests * 1e6 if fig.requests else 0.0, peak_rss_mib(server.pid),
    )  # fmt: skip


@contextlib.asynccontextmanager
async def running(server: Server, results: Results) -> Any:
    """Stop the server at the end; for an agent, record the largest WAL it had."""
    watch = WalWatch(server.db) if server.db else None
    try:
        yield server
    finally:
        if watch:
            results.wal_max_mib = max(results.wal_max_mib, watch.stop())
        await server.stop()


async def demo_phase(results: Results, sizes: Sizes, work: Path, peer: bool, ref: Yardstick) -> None:
    """The hello row, the peer and the agent with the demo bundle."""
    proxy: Server | None = None
    if peer:
        reason = await unleash.install()
        if reason is None:
            proxy = await servers.unleash_proxy(work / "unleash.log")
        else:
            print(f"peer skipped: {reason}", file=sys.stderr)
            results.peer = f"unavailable ({reason})"
    agent = await servers.agent(work / "demo")
    async with running(agent, results):
        await ref.sample()
        hello = await measure(ref.hello, "hello", HELLO_LOAD, sizes)
        results.rows["hello"] = await ref.bracket(hello)
        if proxy is not None:
            async with running(proxy, results):
                # node compiles its hot paths in the first seconds: a longer warm-up than the Python servers
                await wrk.run(proxy.url, unleash.load(), seconds=3 * sizes.warmup_s)
                row = await measure(proxy, "peer: Unleash GET /proxy", unleash.load(), sizes)
                results.rows["peer"] = await ref.bracket(row)
        users = await sdk_calls.create_profiles(agent.url, sizes.profiles)
        engagement = await sdk_calls.engagement_paths(agent.url, users[:200])
        loads = sdk_calls.demo_loads(users, engagement)
        for name, load in loads.items():
            results.rows[name] = await ref.bracket(await measure(agent, name, load, sizes))
        for name in ("/choose single", "/event add-to-cart"):
            row = await measure(
                agent, name, loads[name], sizes, connections=1, seconds=sizes.one_connection_s
            )
            results.one_connection[name] = row


async def generated_phase(results: Results, sizes: Sizes, work: Path, ref: Yardstick) -> None:
    """Startup to ready with 200 campaigns / 50 segments (fresh data directories), then its loads."""
    bundle = work / "bundle-200.json"
    bundle.write_text(json.dumps(generate_bundle(random.Random(7), 200, 50)))
    agent: Server | None = None
    for n in range(1 + sizes.startups):  # the first start may write the bytecode cache: not counted
        if agent is not None:
            await agent.stop()
        agent = await servers.agent(work / f"generated-{n}", bundle)
        if n:
            results.startup_s.append(agent.ready_s)
    assert agent is not None
    async with running(agent, results):
        users = await sdk_calls.create_profiles(agent.url, sizes.profiles)
        await ref.sample()
        for name, load in sdk_calls.generated_loads(users).items():
            results.generated[name] = await ref.bracket(await measure(agent, name, load, sizes))


async def queue_phase(results: Results, sizes: Sizes, work: Path) -> Path:
    """Idle RSS, then /event one event per call (32 connections) until N events are queued: RSS, WAL, size."""
    agent = await servers.agent(work / "queue")
    assert agent.db is not None
    memory = results.memory
    memory["idle_rss_mib"] = rss_mib(agent.pid)
    async with running(agent, results):
        users = await sdk_calls.create_profiles(agent.url, sizes.profiles)
        load = sdk_calls.demo_loads(users, [])["/event add-to-cart"]
        warm = await wrk.run(agent.url, load, seconds=2)
        memory["warm_events"] = warm.requests + len(users)
        memory["rss_before_mib"] = rss_mib(agent.pid)
        reset_peak_rss(agent.pid)
        queued, errors, started = 0, 0, time.perf_counter()
        while queued < sizes.queue_events and time.perf_counter() - started < sizes.queue_cap_s:
            chunk = await wrk.run(agent.url, load, seconds=10)
            queued, errors = queued + chunk.requests - chunk.errors, errors + chunk.errors
        took = time.perf_counter() - started
        memory.update(
            queued_events=queued, target_events=sizes.queue_events, fill_s=took, fill_rps=queued / took,
            fill_errors=errors, rss_after_mib=rss_mib(agent.pid), peak_fill_rss_mib=peak_rss_mib(agent.pid),
        )  # fmt: skip
        memory["pending"] = await pending(agent.url)
    files = [agent.db, Path(f"{agent.db}-wal"), Path(f"{agent.db}-shm")]
    size = sum(f.stat().st_size for f in files if f.exists())
    total = queued + memory["warm_events"]
    memory["db_mib"] = size / 2**20
    memory["db_mib_per_million"] = size / 2**20 / total * 1e6
    return agent.db


async def pending(url: str) -> int | None:
    """The outbox's pending count from ``edge-agent``'s /status, when it says."""
    async with aiohttp.ClientSession() as session, session.get(f"{url}/status") as response:
        status = await response.json()
    queue = status.get("queue", {})
    return queue.get("pending") if isinstance(queue, dict) else None


async def drain_phase(results: Results, sizes: Sizes, work: Path, db: Path) -> None:
    """The queued database drained by the agent itself, replay then batch, while /choose takes 500 req/s."""
    upstream = await servers.upstream(work / "upstream")
    async with running(upstream, results):
        for mode in ("replay", "batch"):
            agent = await servers.agent(db.parent, env=servers.drain_env(upstream.url, mode))
            async with running(agent, results):
                users = await sdk_calls.create_profiles(agent.url, 50, first=10_000)
                load = sdk_calls.demo_loads(users, [])["/choose single"]
                before = await servers.delivered(upstream)
                for _ in range(100):  # the first drain starts within push_interval_s
                    if await servers.delivered(upstream) > before:
                        break
                    await asyncio.sleep(0.1)
                t0, n0 = time.perf_counter(), await servers.delivered(upstream)
                # 32 connections, each pausing 64 ms after an answer: at most 500 req/s offered, a little
                # less as answers take time (wrk has no fixed-rate mode; the achieved rate is printed)
                fig = await wrk.run(
                    agent.url, load, seconds=sizes.drain_s, connections=32, threads=1, delay_ms=64
                )
                rate = (await servers.delivered(upstream) - n0) / (time.perf_counter() - t0)
                results.drain[mode] = {
                    "events_per_s": rate, "choose_rps": fig.rps, "choose_p50_ms": fig.p50_ms,
                    "choose_p99_ms": fig.p99_ms, "choose_errors": fig.errors,
                }  # fmt: skip


def ratios(results: Results) -> None:
    """Each row over its own hello reference; over the peer through hello (both normalised to the hello
    runs beside them, so the peer measured minutes earlier still compares)."""
    rows = [*results.rows.values(), *results.generated.values()]
    for row in rows:
        near = slice(max(0, row.hello_at - 2), row.hello_at + 2)
        row.hello_rps = statistics.median(results.hello_runs[near])
        row.hello_cpu_us = statistics.median(results.hello_cpu_runs[near])
        row.x_hello = row.rps / row.hello_rps if row.hello_rps else None
        row.x_hello_cpu = row.hello_cpu_us / row.cpu_us if row.cpu_us else None
    results.rows["hello"].x_hello = 1.0
    results.rows["hello"].x_hello_cpu = 1.0
    peer = results.rows.get("peer")
    for row in rows:
        row.x_peer = row.x_hello / peer.x_hello if peer and row.x_hello and peer.x_hello else None
    agent_rows = [r for n, r in results.rows.items() if n not in ("hello", "peer")]
    peaks = [r.peak_rss_mib for r in [*agent_rows, *results.generated.values()]]
    results.peak_rss_max_mib = max([*peaks, results.memory.get("peak_fill_rss_mib", 0.0)])


def fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def table(rows: list[Row]) -> Iterator[str]:
    yield (
        "| load | req/s | × hello | × peer | p50 ms | p99 ms | p99.9 ms | errors | CPU µs/req "
        "| × hello by CPU | peak RSS MiB |"
    )
    yield "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for r in rows:
        yield (
            f"| {r.name} | {r.rps:,.0f} | {fmt(r.x_hello, '.2f')} | {fmt(r.x_peer, '.2f')} | {r.p50_ms:.2f} "
            f"| {r.p99_ms:.2f} | {r.p999_ms:.2f} | {r.errors} | {r.cpu_us:.0f} | {fmt(r.x_hello_cpu, '.2f')} "
            f"| {r.peak_rss_mib:.0f} |"
        )


def targets(res: Results) -> list[tuple[str, str, bool]]:
    """Each target of the suite: what it asks, the figure measured, met or not."""
    choose, event = res.rows["/choose single"], res.rows["/event add-to-cart"]
    big = res.generated["/choose single"]
    one_c, one_e = res.one_connection["/choose single"], res.one_connection["/event add-to-cart"]
    mem, out = res.memory, []

    def check(what: str, figure: str, met: bool) -> None:
        out.append((what, figure, met))

    check("/choose ≥ 0.6× hello", f"{choose.x_hello:.2f}×", (choose.x_hello or 0) >= 0.6)
    if choose.x_peer is not None and event.x_peer is not None:
        check("/choose ≥ 2.5× peer", f"{choose.x_peer:.2f}×", choose.x_peer >= 2.5)
    check("/choose p99 ≤ 5 ms at 32 connections", f"{choose.p99_ms:.1f} ms", choose.p99_ms <= 5)
    check(
        "/choose, 200 campaigns / 50 segments ≥ 0.4× hello", f"{big.x_hello:.2f}×", (big.x_hello or 0) >= 0.4
    )
    check("/event ≥ 0.5× hello", f"{event.x_hello:.2f}×", (event.x_hello or 0) >= 0.5)
    if event.x_peer is not None:
        check("/event ≥ 2× peer", f"{event.x_peer:.2f}×", event.x_peer >= 2)
    check("/event p99 ≤ 10 ms", f"{event.p99_ms:.1f} ms", event.p99_ms <= 10)
    check("one connection: /choose p50 ≤ 0.5 ms", f"{one_c.p50_ms:.2f} ms", one_c.p50_ms <= 0.5)
    check("one connection: /event p50 ≤ 1 ms", f"{one_e.p50_ms:.2f} ms", one_e.p50_ms <= 1)
    check("idle RSS ≤ 60 MiB", f"{mem['idle_rss_mib']:.0f} MiB", mem["idle_rss_mib"] <= 60)
    check("peak RSS under load ≤ 100 MiB", f"{res.peak_rss_max_mib:.0f} MiB", res.peak_rss_max_mib <= 100)
    grew = mem["rss_after_mib"] - mem["rss_before_mib"]
    check(
        f"RSS after {mem['queued_events']:,} queued events within 10 MiB of before",
        f"{mem['rss_before_mib']:.0f} → {mem['rss_after_mib']:.0f} MiB ({grew:+.0f})", abs(grew) <= 10,
    )  # fmt: skip
    check("WAL ≤ 64 MiB under sustained load", f"{res.wal_max_mib:.0f} MiB", res.wal_max_mib <= 64)
    start = statistics.median(res.startup_s)
    check("startup to ready ≤ 1 s, 200 campaigns", f"{start:.2f} s", start <= 1)
    for mode, floor in (("replay", 1000), ("batch", 10_000)):
        d = res.drain[mode]
        check(f"drain {mode} ≥ {floor:,} events/s", f"{d['events_per_s']:,.0f}/s", d["events_per_s"] >= floor)
        check(f"/choose p99 ≤ 10 ms while {mode} drains", f"{d['choose_p99_ms']:.1f} ms at "
              f"{d['choose_rps']:.0f} req/s", d["choose_p99_ms"] <= 10)  # fmt: skip
    return out


def report(res: Results, sizes: Sizes) -> Iterator[str]:
    m = res.machine
    yield f"machine: {m['nproc']} × {m['cpu']}, {m['ram_gib']} GiB RAM, Python {m['python']}, {m['date']}"
    yield f"load average at start: {m['load_avg']}; mode: {res.mode}; peer: {res.peer}"
    runs = res.hello_runs
    yield (
        f"hello reference runs ({len(runs)}, one between each two measured loads): median "
        f"{statistics.median(runs):,.0f} req/s, min {min(runs):,.0f}, max {max(runs):,.0f}; each row's "
        "× hello is over the median of the two runs before it and the two after; × peer = row × hello / "
        "peer × hello"
    )
    yield ""
    yield f"Demo bundle, wrk -t2 -c32, {sizes.seconds:.0f} s after {sizes.warmup_s:.0f} s warm-up:"
    yield from table(list(res.rows.values()))
    yield ""
    yield "Generated bundle, 200 campaigns / 50 segments:"
    yield from table(list(res.generated.values()))
    yield ""
    for name, r in res.one_connection.items():
        yield f"one connection (wrk -t1 -c1), {name}: p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms"
    starts = ", ".join(f"{s:.2f}" for s in res.startup_s)
    yield f"startup to ready (exec → /readyz 200), 200 campaigns, fresh data dir, not the first: {starts} s"
    mem = res.memory
    short = f"NOT the target {mem['target_events']:,}: the fill stopped at its time cap"
    reached = "measured" if mem["queued_events"] >= mem["target_events"] else short
    yield (
        f"idle RSS {mem['idle_rss_mib']:.0f} MiB; after {mem['warm_events']:,} warm-up events "
        f"{mem['rss_before_mib']:.0f} MiB; after {mem['queued_events']:,} more queued events "
        f"{mem['rss_after_mib']:.0f} MiB (peak {mem['peak_fill_rss_mib']:.0f} MiB), "
        f"{reached}"
    )
    yield (
        f"queue fill: /event one event per call at {mem['fill_rps']:,.0f} req/s for {mem['fill_s']:.0f} s, "
        f"errors {mem['fill_errors']}, outbox pending {mem['pending']}"
    )
    per = "measured" if mem["queued_events"] + mem["warm_events"] >= 1_000_000 else "extrapolated linearly"
    yield (
        f"database: {mem['db_mib']:.0f} MiB for {mem['queued_events'] + mem['warm_events']:,} events = "
        f"{mem['db_mib_per_million']:.0f} MiB per million events ({per}); "
        f"WAL max over the run {res.wal_max_mib:.1f} MiB"
    )
    for mode, d in res.drain.items():
        yield (
            f"drain {mode}: {d['events_per_s']:,.0f} events/s delivered, while /choose took "
            f"{d['choose_rps']:.0f} req/s (32 connections, 64 ms pauses) p50 {d['choose_p50_ms']:.2f} ms "
            f"p99 {d['choose_p99_ms']:.2f} ms, "
            f"errors {d['choose_errors']}"
        )
    yield ""
    yield "Targets:"
    for what, figure, met in targets(res):
        yield f"- {'met' if met else 'GAP'}: {what}: {figure}"


async def main(args: argparse.Namespace) -> int:
    if not wrk.available():
        print("bench/run needs wrk (apt-get install wrk)", file=sys.stderr)
        return 2
    if args.guard:
        return await guard.run(write_baseline=args.write_baseline, as_json=args.json)
    sizes = QUICK if args.quick else FULL
    results = Results(machine(), "quick" if args.quick else "full")
    with tempfile.TemporaryDirectory(prefix="edge-agent-bench-") as tmp:
        work = Path(tmp)
        hello = await servers.hello(work / "hello.log")
        async with running(hello, results):
            ref = Yardstick(hello, results, sizes.reference_s)
            await demo_phase(results, sizes, work, not args.no_peer, ref)
            await generated_phase(results, sizes, work, ref)
        db = await queue_phase(results, sizes, work)
        await drain_phase(results, sizes, work, db)
    ratios(results)
    for line in report(results, sizes):
        print(line)
    if args.json:
        print(json.dumps(asdict(results)))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="short loads, up to 100,000 queued events (≈ 3 min)"
    )
    parser.add_argument("--json", action="store_true", help="all figures as one JSON object on the last line")
    parser.add_argument("--no-peer", action="store_true", help="skip the Unleash proxy (no npm)")
    parser.add_argument("--guard", action="store_true", help="the CI regression guard: ratios vs baseline")
    parser.add_argument(
        "--write-baseline", action="store_true", help="with --guard: write bench/baseline.json"
    )
    sys.exit(asyncio.run(main(parser.parse_args())))
