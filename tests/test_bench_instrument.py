"""The benchmark suite's own parts that a verdict rests on: wrk's figures read back (counts, error
answers, bodies Lua must quote) from a real wrk against a real aiohttp server, the CI guard's rule
(fail below half of the baseline by CPU ratio; the req/s ratio is only printed), waiting for a server,
CPU per request, the WAL's peak, the drain's rate, and the queue fill (events counted, one outbox row
per call) against a real agent."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.helpers import db_rows, require_binary

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import guard
import loopback
import sdk_calls
import servers
import suite
import wrk


async def test_wrk_figures_count_answers_errors_and_send_every_body_intact(
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
) -> None:
    require_binary("wrk")
    seen: set[bytes] = set()

    async def echo(request: web.Request) -> web.Response:
        seen.add(await request.read())
        return web.Response(status=422 if request.path == "/bad" else 200)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    server = await aiohttp_server(app)
    bodies = ['{"a":"]]"}', '{"b":"]=]"}', '{"c":"]==]"}']  # each closes a naive Lua long string
    load = wrk.Load([wrk.Call("POST", "/ok", b) for b in bodies], {"Content-Type": "application/json"})
    fig = await wrk.run(str(server.make_url("")), load, seconds=1, connections=2, core=None)
    assert fig.requests > 10 and fig.errors == 0
    assert fig.rps > 0 and 0 < fig.p50_ms <= fig.p99_ms <= fig.p999_ms
    assert seen == {b.encode() for b in bodies}

    bad = await wrk.run(str(server.make_url("")), wrk.Load([wrk.Call("GET", "/bad")]), seconds=1, core=None)
    assert bad.requests > 0 and bad.status_errors == bad.requests and bad.socket_errors == 0


def test_the_guard_fails_only_below_half_of_the_baseline_cpu_ratio() -> None:
    baseline = {"rps": {"/x": 0.40}, "cpu": {"/x": 0.20}}
    above = guard.Ratios(rounds={"rps": [0.01, 0.02, 0.01], "cpu": [0.11, 0.12, 0.30]})
    below = guard.Ratios(rounds={"rps": [0.40, 0.40, 0.40], "cpu": [0.09, 0.12, 0.05]})
    assert [ok for _, ok, _ in guard.verdicts("/x", above, baseline)] == [True, True]  # rps: printed only
    assert [(k, ok) for k, ok, _ in guard.verdicts("/x", below, baseline)] == [("rps", True), ("cpu", False)]
    assert guard.verdicts("/y", above, baseline) == []  # a load the baseline lacks is not judged


async def test_ready_after_waits_for_the_first_200_and_gives_up_when_the_server_exits(
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
) -> None:
    answers: list[int] = []

    async def warming(request: web.Request) -> web.Response:
        answers.append(503 if len(answers) < 3 else 200)
        return web.Response(status=answers[-1])

    app = web.Application()
    app.router.add_get("/readyz", warming)
    server = await aiohttp_server(app)
    assert await loopback.ready_after(str(server.make_url("/readyz")), seconds=5) > 0
    assert answers == [503, 503, 503, 200]

    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "raise SystemExit(3)")
    await gone.wait()
    with pytest.raises(SystemExit, match="exited with 3"):
        await loopback.ready_after(f"http://127.0.0.1:{loopback.free_port()}/readyz", gone, seconds=5)


def burn(seconds: float) -> None:
    until = time.thread_time() + seconds
    while time.thread_time() < until:  # this thread's own CPU time
        pass


def test_cpu_per_request_is_the_cpu_spent_since_the_clock_started_over_the_requests() -> None:
    clock = loopback.CpuClock(os.getpid())
    burn(0.3)
    per = clock.per_request(10)
    assert 0.25e6 / 10 <= per <= 5e6 / 10  # µs per request: ≥ 0.25 s of CPU over 10 requests
    assert clock.per_request(0) == 0.0  # no request answered: no figure, not the whole time


def test_thread_cpu_puts_each_threads_time_on_that_thread() -> None:
    burnt, release = threading.Event(), threading.Event()

    def work() -> None:
        burn(0.3)
        burnt.set()
        release.wait(10)  # alive, so /proc still lists it, until read

    worker = threading.Thread(target=work)
    before = loopback.thread_cpu(os.getpid())
    worker.start()
    try:
        assert burnt.wait(10)  # the main thread blocks meanwhile: no CPU of its own
        during = loopback.thread_cpu(os.getpid())
    finally:
        release.set()
        worker.join()
    tid = worker.native_id
    assert tid is not None and tid in during and tid not in before and os.getpid() in during
    assert sum(during[tid]) >= 0.25  # the worker's burn (user + system), on the worker
    assert sum(during[os.getpid()]) - sum(before[os.getpid()]) < 0.1  # not on the main thread


async def test_the_wal_watch_keeps_the_largest_size_after_the_wal_is_cut_back(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (b BLOB)")
    watch = loopback.WalWatch(db, every=0.01)
    for _ in range(50):
        conn.execute("INSERT INTO t VALUES (randomblob(20000))")
        conn.commit()
    grown = watch.size()
    await asyncio.sleep(0.05)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    await asyncio.sleep(0.05)
    assert watch.size() == 0 and grown > 2**20
    assert watch.stop() == pytest.approx(grown / 2**20, rel=0.1)
    conn.close()


def test_the_drain_rate_stops_where_the_count_stops_rising() -> None:
    samples = [(0.0, 100), (1.0, 1100), (2.0, 2100), (3.0, 2600), (4.0, 2600), (12.0, 2600)]
    assert suite.rate_until_last_rise(samples) == (2500 / 3, 3.0)  # not 2500 / 12: the queue emptied
    assert suite.rate_until_last_rise([(0.0, 5), (12.0, 5)]) == (0.0, 0.0)


async def test_the_queue_fill_counts_events_and_queues_one_outbox_row_per_call(tmp_path: Path) -> None:
    require_binary("wrk")
    agent = await servers.agent(tmp_path / "agent")
    assert agent.db is not None
    try:
        users = await sdk_calls.create_profiles(agent.url, 4)
        load = sdk_calls.add_to_cart_load(users, 7)
        fill = await suite.fill_queue(agent.url, load, 7, events=10**9, cap_s=2)
    finally:
        await agent.stop()
    assert fill.calls > 0 and fill.errors == 0 and fill.events == 7 * fill.calls
    assert 2 <= fill.seconds < 6  # stopped by its cap, far short of the events asked for
    rows = db_rows(agent.db, "SELECT body FROM outbox WHERE path = '/event'")
    # wrk counts the answers it read: a call in flight when it stopped may be queued and not counted
    assert fill.calls <= len(rows) <= fill.calls + 32
    assert {len(json.loads(row["body"])["data"]) for row in rows} == {7}
    [events] = db_rows(agent.db, "SELECT COUNT(*) AS n FROM history WHERE type = 'add-to-cart-v1'")
    assert events["n"] == 7 * len(rows)


def test_the_report_of_the_queue_phase_alone_says_measured_or_extrapolated() -> None:
    memory = {
        "idle_rss_mib": 50.0, "rss_before_mib": 60.0, "rss_after_mib": 64.0, "peak_fill_rss_mib": 65.0,
        "events_per_call": 20, "visits": 1000, "warm_events": 40_000, "queued_events": 1_000_020,
        "target_events": 1_000_000, "fill_calls": 50_001, "fill_s": 60.0, "fill_calls_per_s": 833.4,
        "fill_events_per_s": 16_667.0, "fill_errors": 0, "pending": 53_001, "counted_rows": 52_990,
        "db_events": 1_040_020, "db_mib": 1040.0, "db_mib_per_million": 1000.0,
    }  # fmt: skip
    results = suite.Results(machine={"nproc": 2, "cpu": "x", "ram_gib": 4, "python": "3", "date": "d",
                                     "load_avg": [0]}, mode="full (only queue)", memory=memory)  # fmt: skip
    text = "\n".join(suite.report(results, suite.FULL))
    assert "20 add-to-cart events each" in text and "833 calls/s, 16,667 events/s" in text
    assert "1,040,020 events (53,001 outbox rows less the visits, × 20)" in text
    assert "1,000 MiB per million events (measured, 20 events a call)" in text
    assert "- met: RSS after 1,000,020 queued events within 10 MiB of before" in text
    memory.update(queued_events=500_000, db_events=520_000)
    text = "\n".join(suite.report(results, suite.FULL))
    assert "NOT the target 1,000,000" in text and "extrapolated linearly" in text


def test_client_latency_percentiles_in_ms() -> None:
    p50, p99 = loopback.p50_p99_ms([0.001] * 97 + [0.002, 0.2, 0.3])
    assert p50 == pytest.approx(1.0) and 200 <= p99 <= 300  # the two slow calls are the 1 % tail
    assert loopback.p50_p99_ms([0.5]) == (0.0, 0.0)  # one call has no percentiles
