"""The benchmark suite as one command (``bench/run``): every figure of docs/performance.md from one run.

    bench/run [--quick] [--json] [--no-peer]        the full suite (7–10 min; --quick ≈ 3 min)
    bench/run --only queue [drain …]                only those phases (demo, generated, queue, drain)
    bench/run --guard [--write-baseline]            the CI regression guard (< 2 min), see guard.py

On loopback, each server pinned to core 0 and ``wrk -t2 -c32`` pinned to core 1, it measures the bare
aiohttp hello server, the agent with the demo bundle, the agent with a generated 200-campaign / 50-segment
bundle, and the Unleash proxy (the peer). Per load: requests/s, p50/p99/p99.9, errors, the server's CPU per
request (utime + stime from /proc) and its peak RSS (VmHWM, reset before each load), and the ratios to
hello and to the peer. Then: one-connection latency, startup to ready, idle RSS, RSS after N queued
events (``/event`` calls of several events each), database size per million events, and the drain rate
in replay and batch mode of a queue of one-event calls against the reference upstream while ``/choose``
takes a concurrent 500 req/s. Figures are ratios within one run:
on a shared machine absolute times move with the load; ratios move far less.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
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
from loopback import CpuClock, WalWatch, machine, peak_rss_mib, reset_peak_rss, rss_mib
from servers import Server


@dataclass(frozen=True)
class Sizes:
    """How long and how big each part runs: the full suite, or ``--quick``."""

    warmup_s: float = 2.0
    seconds: float = 10.0
    one_connection_s: float = 5.0
    profiles: int = 1000
    queue_events: int = 1_000_000
    events_per_call: int = 20  # the queue fill's /event calls each carry this many events (§2.7: a list)
    queue_cap_s: float = 180.0  # the queue fill stops here even short of queue_events (then extrapolated)
    drain_fill_s: float = 60.0  # one-event /event calls queued for the drain (≈ 80,000–160,000 rows)
    drain_s: float = 12.0
    startups: int = 3
    reference_s: float = 2.0  # each hello run between two measured loads


FULL = Sizes()
QUICK = Sizes(warmup_s=1.0, seconds=3.0, one_connection_s=3.0, profiles=200, queue_events=100_000,
              queue_cap_s=40.0, drain_fill_s=15.0, drain_s=5.0, startups=2, reference_s=1.0)  # fmt: skip
PHASES = ("demo", "generated", "queue", "drain")


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
    one_event_db_mib_per_million: float | None = None  # the drain's queue: one event a call


HELLO_LOAD = wrk.Load([wrk.Call("GET", "/")])


class Yardstick:
    """Short hello runs between the measured runs. A row's reference is the median of the two hello runs
    before it and the two after: a change in the machine's load moves both sides of its ratio, and one
    hello run caught in a burst from elsewhere does not move it."""

    def __init__(self, hello: Server, results: Results, seconds: float) -> None:
        self.hello, self.results, self.seconds = hello, results, seconds

    async def sample(self) -> None:
        cpu = CpuClock(self.hello.pid)
        fig = await wrk.run(self.hello.url, HELLO_LOAD, seconds=self.seconds)
        self.results.hello_runs.append(fig.rps)
        self.results.hello_cpu_runs.append(cpu.per_request(fig.requests))

    async def bracket(self, row: Row) -> Row:
        """Call right after ``row`` was measured; ``sample()`` must have run just before it."""
        await self.sample()
        row.hello_at = len(self.results.hello_runs) - 1
        return row


async def measure(
    server: Server, name: str, load: wrk.Load, sizes: Sizes, *, connections: int = 32, seconds: float = 0.0
) -> Row:
    """Warm up, then one measured wrk run with the server's CPU and peak RSS around it."""
    if sizes.warmup_s:
        await wrk.run(server.url, load, seconds=sizes.warmup_s, connections=connections)
    reset_peak_rss(server.pid)
    cpu = CpuClock(server.pid)
    fig = await wrk.run(server.url, load, seconds=seconds or sizes.seconds, connections=connections)
    return Row(
        name, fig.rps, fig.p50_ms, fig.p99_ms, fig.p999_ms, fig.errors, cpu.per_request(fig.requests),
        peak_rss_mib(server.pid),
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


async def queue_phase(results: Results, sizes: Sizes, work: Path) -> None:
    """Idle RSS, then ``/event`` calls of ``events_per_call`` add-to-cart events each (32 connections)
    until N events are queued or the cap passes: RSS before and after, the database's size per event."""
    agent = await servers.agent(work / "queue")
    assert agent.db is not None
    memory = results.memory
    memory["idle_rss_mib"] = rss_mib(agent.pid)
    per_call = sizes.events_per_call
    async with running(agent, results):
        users = await sdk_calls.create_profiles(agent.url, sizes.profiles)
        load = sdk_calls.add_to_cart_load(users, per_call)
        warm = await wrk.run(agent.url, load, seconds=2)
        warm_calls = warm.requests - warm.errors
        memory["rss_before_mib"] = rss_mib(agent.pid)
        reset_peak_rss(agent.pid)
        fill = await fill_queue(agent.url, load, per_call, sizes.queue_events, sizes.queue_cap_s)
        memory.update(
            events_per_call=per_call, visits=len(users), warm_events=warm_calls * per_call,
            queued_events=fill.events, target_events=sizes.queue_events, fill_calls=fill.calls,
            fill_s=fill.seconds, fill_calls_per_s=fill.calls / fill.seconds,
            fill_events_per_s=fill.events / fill.seconds, fill_errors=fill.errors,
            rss_after_mib=rss_mib(agent.pid), peak_fill_rss_mib=peak_rss_mib(agent.pid),
            # one outbox row per call wrk counted: the profiles' first visits, the warm-up's calls, the fill's
            counted_rows=len(users) + warm_calls + fill.calls,
        )  # fmt: skip
        rows = memory["pending"] = await pending(agent.url)
    # The outbox's rows, not wrk's count: a call in flight when a wrk run stops is queued, not counted.
    events = (rows - len(users)) * per_call if rows is not None else fill.events + memory["warm_events"]
    memory["db_events"] = events
    memory["db_mib"] = files_mib(agent.db)
    memory["db_mib_per_million"] = memory["db_mib"] / events * 1e6


def files_mib(db: Path) -> float:
    """The database's size on disk: the file, its WAL and its shared-memory index."""
    files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
    return sum(f.stat().st_size for f in files if f.exists()) / 2**20


@dataclass(frozen=True)
class Fill:
    calls: int  # answered without error: each queued its events as one outbox row
    events: int
    errors: int
    seconds: float


async def fill_queue(url: str, load: wrk.Load, per_call: int, events: int, cap_s: float) -> Fill:
    """wrk runs of ``load`` until ``events`` events are queued or ``cap_s`` has passed. The first run
    lasts 2 s, each next one 10 s or what is left at the rate so far, so the fill ends within a few
    seconds past ``events``, not up to 10."""
    calls, errors, started = 0, 0, time.perf_counter()
    while calls * per_call < events and (took := time.perf_counter() - started) < cap_s:
        left = (events - calls * per_call) / per_call / (calls / took) if calls else 2.0
        chunk = await wrk.run(url, load, seconds=max(1.0, min(10.0, left, cap_s - took)))
        calls, errors = calls + chunk.requests - chunk.errors, errors + chunk.errors
    return Fill(calls, calls * per_call, errors, time.perf_counter() - started)


async def pending(url: str) -> int | None:
    """The outbox's pending count from ``edge-agent``'s /status, when it says."""
    async with aiohttp.ClientSession() as session, session.get(f"{url}/status") as response:
        status = await response.json()
    queue = status.get("queue", {})
    return queue.get("pending") if isinstance(queue, dict) else None


async def drain_phase(results: Results, sizes: Sizes, work: Path) -> None:
    """A queue of one-event ``/event`` calls (how apps mostly send them: one outbox row per event), drained
    by the agent itself from a copy each, replay then batch, while /choose takes up to 500 req/s."""
    filler = await servers.agent(work / "drain")
    async with running(filler, results):
        rows, visits = await one_event_queue(filler, sizes.profiles, sizes.drain_fill_s)
    assert filler.db is not None
    if rows > visits:  # the database per event of one-event calls, beside the queue phase's
        results.one_event_db_mib_per_million = files_mib(filler.db) / (rows - visits) * 1e6
    upstream = await servers.upstream(work / "upstream")
    async with running(upstream, results):
        for mode in ("replay", "batch"):
            data = shutil.copytree(work / "drain", work / f"drain-{mode}")
            await servers.sim_reset(upstream)  # the copies share their rows' ids: count each afresh
            agent = await servers.agent(data, env=servers.drain_env(upstream.url, mode))
            async with running(agent, results):
                load = await choose_once_draining(agent, upstream)
                fig, rate, drained_s = await choose_while_draining(agent, upstream, load, sizes.drain_s)
                results.drain[mode] = {
                    "events_per_s": rate, "rows": rows, "drained_s": drained_s, "load_s": fig.seconds,
                    "emptied": await pending(agent.url) == 0, "choose_rps": fig.rps,
                    "choose_p50_ms": fig.p50_ms, "choose_p99_ms": fig.p99_ms, "choose_errors": fig.errors,
                }  # fmt: skip


async def one_event_queue(agent: Server, profiles: int, seconds: float) -> tuple[int, int]:
    """``seconds`` of one-event ``/event`` calls over ``profiles`` new profiles: the outbox rows pending
    after it, and how many of them are the profiles' first visits."""
    users = await sdk_calls.create_profiles(agent.url, profiles)
    await wrk.run(agent.url, sdk_calls.add_to_cart_load(users, 1), seconds=seconds)
    return await pending(agent.url) or 0, len(users)


async def choose_once_draining(agent: Server, upstream: Server) -> wrk.Load:
    """The ``/choose`` load over 50 profiles of its own, once the agent's first drain round delivered."""
    users = await sdk_calls.create_profiles(agent.url, 50, first=10_000)
    for _ in range(100):  # the first drain starts within push_interval_s
        if await servers.delivered(upstream):
            break
        await asyncio.sleep(0.1)
    return sdk_calls.demo_loads(users, [])["/choose single"]


async def choose_while_draining(
    agent: Server, upstream: Server, load: wrk.Load, seconds: float
) -> tuple[wrk.Figures, float, float]:
    """``load`` paced at up to 500 req/s for ``seconds`` while the agent drains: wrk's figures, and the
    events per second the upstream received over how many seconds (until the queue emptied)."""
    counts = await Deliveries.start(upstream)
    # 32 connections, each pausing 64 ms after an answer: at most 500 req/s offered, a little less as
    # answers take time (wrk has no fixed-rate mode; the achieved rate is printed)
    fig = await wrk.run(agent.url, load, seconds=seconds, connections=32, threads=1, delay_ms=64)
    rate, drained_s = await counts.stop()
    return fig, rate, drained_s


class Deliveries:
    """The upstream's unique count polled every 0.5 s while a load runs. The rate runs from the first poll
    to the first one at the final count, so a queue that empties before the load ends is not averaged
    over the seconds with nothing left to send."""

    def __init__(self, upstream: Server, first: int) -> None:
        self.upstream = upstream
        self.samples: list[tuple[float, int]] = [(time.perf_counter(), first)]
        self.task = asyncio.create_task(self._poll())

    @classmethod
    async def start(cls, upstream: Server) -> Deliveries:
        return cls(upstream, await servers.delivered(upstream))

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self.samples.append((time.perf_counter(), await servers.delivered(self.upstream)))

    async def stop(self) -> tuple[float, float]:
        """Events per second delivered, and over how many seconds."""
        self.task.cancel()
        self.samples.append((time.perf_counter(), await servers.delivered(self.upstream)))
        return rate_until_last_rise(self.samples)


def rate_until_last_rise(samples: list[tuple[float, int]]) -> tuple[float, float]:
    """From ``(time, count)`` samples: the count's rise per second up to the first sample at the final
    count, and that span in seconds (0, 0 when it did not rise)."""
    (t0, n0), final = samples[0], samples[-1][1]
    t1 = next(t for t, n in samples if n == final)
    return ((final - n0) / (t1 - t0), t1 - t0) if t1 > t0 else (0.0, 0.0)


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
    if "hello" in results.rows:
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
    """Each target of the phases that ran: what it asks, the figure measured, met or not."""
    mem, out = res.memory, []

    def check(what: str, figure: str, met: bool) -> None:
        out.append((what, figure, met))

    if res.rows:
        choose, event = res.rows["/choose single"], res.rows["/event add-to-cart"]
        one_c, one_e = res.one_connection["/choose single"], res.one_connection["/event add-to-cart"]
        check("/choose ≥ 0.6× hello", f"{choose.x_hello:.2f}×", (choose.x_hello or 0) >= 0.6)
        if choose.x_peer is not None and event.x_peer is not None:
            check("/choose ≥ 2.5× peer", f"{choose.x_peer:.2f}×", choose.x_peer >= 2.5)
        check("/choose p99 ≤ 5 ms at 32 connections", f"{choose.p99_ms:.1f} ms", choose.p99_ms <= 5)
    if res.generated:
        big = res.generated["/choose single"]
        check(
            "/choose, 200 campaigns / 50 segments ≥ 0.4× hello", f"{big.x_hello:.2f}×",
            (big.x_hello or 0) >= 0.4,
        )  # fmt: skip
    if res.rows:
        check("/event ≥ 0.5× hello", f"{event.x_hello:.2f}×", (event.x_hello or 0) >= 0.5)
        if event.x_peer is not None:
            check("/event ≥ 2× peer", f"{event.x_peer:.2f}×", event.x_peer >= 2)
        check("/event p99 ≤ 10 ms", f"{event.p99_ms:.1f} ms", event.p99_ms <= 10)
        check("one connection: /choose p50 ≤ 0.5 ms", f"{one_c.p50_ms:.2f} ms", one_c.p50_ms <= 0.5)
        check("one connection: /event p50 ≤ 1 ms", f"{one_e.p50_ms:.2f} ms", one_e.p50_ms <= 1)
    if mem:
        check("idle RSS ≤ 60 MiB", f"{mem['idle_rss_mib']:.0f} MiB", mem["idle_rss_mib"] <= 60)
    if res.rows or mem:
        peak = res.peak_rss_max_mib
        check("peak RSS under load ≤ 100 MiB", f"{peak:.0f} MiB", peak <= 100)
    if mem:
        grew = mem["rss_after_mib"] - mem["rss_before_mib"]
        check(
            f"RSS after {mem['queued_events']:,} queued events within 10 MiB of before",
            f"{mem['rss_before_mib']:.0f} → {mem['rss_after_mib']:.0f} MiB ({grew:+.0f})", abs(grew) <= 10,
        )  # fmt: skip
    check("WAL ≤ 64 MiB under sustained load", f"{res.wal_max_mib:.0f} MiB", res.wal_max_mib <= 64)
    if res.startup_s:
        start = statistics.median(res.startup_s)
        check("startup to ready ≤ 1 s, 200 campaigns", f"{start:.2f} s", start <= 1)
    for mode, floor in (("replay", 1000), ("batch", 10_000)):
        if mode not in res.drain:
            continue
        d = res.drain[mode]
        check(f"drain {mode} ≥ {floor:,} events/s", f"{d['events_per_s']:,.0f}/s", d["events_per_s"] >= floor)
        # a queue that emptied early leaves seconds of the /choose load with nothing draining: said
        share = f", draining {d['drained_s']:.1f} s of its {d['load_s']:.0f} s" if d["emptied"] else ""
        check(f"/choose p99 ≤ 10 ms while {mode} drains", f"{d['choose_p99_ms']:.1f} ms at "
              f"{d['choose_rps']:.0f} req/s{share}", d["choose_p99_ms"] <= 10)  # fmt: skip
    return out


def report(res: Results, sizes: Sizes) -> Iterator[str]:
    m = res.machine
    yield f"machine: {m['nproc']} × {m['cpu']}, {m['ram_gib']} GiB RAM, Python {m['python']}, {m['date']}"
    yield f"load average at start: {m['load_avg']}; mode: {res.mode}; peer: {res.peer}"
    if runs := res.hello_runs:
        yield (
            f"hello reference runs ({len(runs)}, one between each two measured loads): median "
            f"{statistics.median(runs):,.0f} req/s, min {min(runs):,.0f}, max {max(runs):,.0f}; each row's "
            "× hello is over the median of the two runs before it and the two after; × peer = row × hello / "
            "peer × hello"
        )
    if res.rows:
        yield ""
        yield f"Demo bundle, wrk -t2 -c32, {sizes.seconds:.0f} s after {sizes.warmup_s:.0f} s warm-up:"
        yield from table(list(res.rows.values()))
    if res.generated:
        yield ""
        yield "Generated bundle, 200 campaigns / 50 segments:"
        yield from table(list(res.generated.values()))
    yield ""
    for name, r in res.one_connection.items():
        yield f"one connection (wrk -t1 -c1), {name}: p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms"
    if res.startup_s:
        starts = ", ".join(f"{s:.2f}" for s in res.startup_s)
        yield (
            f"startup to ready (exec → /readyz 200), 200 campaigns, fresh data dir, not the first: {starts} s"
        )
    if res.memory:
        yield from queue_report(res.memory)
    if (one := res.one_event_db_mib_per_million) is not None:
        yield f"database, one-event calls (the drain queue): {one:,.0f} MiB per million events, extrapolated"
    yield f"WAL max over the run {res.wal_max_mib:.1f} MiB"
    for mode, d in res.drain.items():
        emptied = f"the queue emptied after {d['drained_s']:.1f} s" if d["emptied"] else "not emptied"
        yield (
            f"drain {mode}: {d['events_per_s']:,.0f} events/s delivered over {d['drained_s']:.1f} s of "
            f"{d['rows']:,} one-event rows ({emptied}), while /choose took {d['choose_rps']:.0f} req/s for "
            f"{d['load_s']:.0f} s (32 connections, 64 ms pauses) p50 {d['choose_p50_ms']:.2f} ms "
            f"p99 {d['choose_p99_ms']:.2f} ms, errors {d['choose_errors']}"
        )
    yield ""
    yield "Targets:"
    for what, figure, met in targets(res):
        yield f"- {'met' if met else 'GAP'}: {what}: {figure}"


def queue_report(mem: dict[str, Any]) -> Iterator[str]:
    """The queue phase's lines: how the fill was done, RSS before and after, rows against events."""
    short = f"NOT the target {mem['target_events']:,}: the fill stopped at its time cap"
    reached = "measured" if mem["queued_events"] >= mem["target_events"] else short
    yield (
        f"idle RSS {mem['idle_rss_mib']:.0f} MiB; after {mem['visits']:,} first visits and "
        f"{mem['warm_events']:,} warm-up events {mem['rss_before_mib']:.0f} MiB; "
        f"after {mem['queued_events']:,} more queued events {mem['rss_after_mib']:.0f} MiB "
        f"(peak {mem['peak_fill_rss_mib']:.0f} MiB), {reached}"
    )
    yield (
        f"queue fill: /event calls of {mem['events_per_call']} add-to-cart events each (32 connections), "
        f"{mem['fill_calls']:,} calls in {mem['fill_s']:.0f} s = {mem['fill_calls_per_s']:,.0f} calls/s, "
        f"{mem['fill_events_per_s']:,.0f} events/s; errors {mem['fill_errors']}; outbox rows pending "
        f"{mem['pending']:,} = {mem['visits']:,} visits + one per call (wrk counted {mem['counted_rows']:,} "
        "rows: a call in flight when a wrk run stops is queued, not counted)"
    )
    per = "measured" if mem["db_events"] >= 1_000_000 else "extrapolated linearly"
    yield (
        f"database: {mem['db_mib']:,.0f} MiB for {mem['db_events']:,} events ({mem['pending']:,} outbox rows "
        f"less the visits, × {mem['events_per_call']}) = {mem['db_mib_per_million']:,.0f} MiB per million "
        f"events ({per}, {mem['events_per_call']} events a call)"
    )


async def main(args: argparse.Namespace) -> int:
    if not wrk.available():
        print("bench/run needs wrk (apt-get install wrk)", file=sys.stderr)
        return 2
    if args.guard:
        return await guard.run(write_baseline=args.write_baseline, as_json=args.json)
    sizes = QUICK if args.quick else FULL
    only = set(args.only or PHASES)
    results = Results(machine(), ("quick" if args.quick else "full") + ("" if args.only is None else
                      " (only " + ", ".join(p for p in PHASES if p in only) + ")"))  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="edge-agent-bench-") as tmp:
        work = Path(tmp)
        if only & {"demo", "generated"}:
            hello = await servers.hello(work / "hello.log")
            async with running(hello, results):
                ref = Yardstick(hello, results, sizes.reference_s)
                if "demo" in only:
                    await demo_phase(results, sizes, work, not args.no_peer, ref)
                if "generated" in only:
                    await generated_phase(results, sizes, work, ref)
        if "queue" in only:
            await queue_phase(results, sizes, work)
        if "drain" in only:
            await drain_phase(results, sizes, work)
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
    parser.add_argument(
        "--only", nargs="+", choices=PHASES, help="run only these phases (their figures and targets)"
    )
    parser.add_argument("--guard", action="store_true", help="the CI regression guard: ratios vs baseline")
    parser.add_argument(
        "--write-baseline", action="store_true", help="with --guard: write bench/baseline.json"
    )
    sys.exit(asyncio.run(main(parser.parse_args())))
