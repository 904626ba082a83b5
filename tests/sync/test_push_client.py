"""The upstream client and the drain's pacing: URL joining and keys, network failures as retryable
results, classification, Retry-After parsing, backoff bounds, the token bucket, in-flight limits, start
jitter, and batch planning."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from edge_agent.clock import ManualClock
from edge_agent.config.settings import Settings
from edge_agent.paths import sdk_path
from edge_agent.storage.outbox import OutboxRow, ready_rows
from edge_agent.sync.batching import plan_batches
from edge_agent.sync.client import UpstreamClient, classify
from edge_agent.sync.drain import FLUSH_MAX_MARKS
from edge_agent.sync.pacing import TokenBucket, backoff_ceiling, backoff_delay, parse_retry_after
from edge_agent.sync.push import Pusher
from edge_agent.sync.state import SyncState
from edge_agent.upstream_sim import FaultConfig
from tests.sync.conftest import MakeRig, Rig, ingest


async def first_row(rig: Rig) -> OutboxRow:
    [row] = await rig.db.read(lambda c: ready_rows(c, now=rig.clock.now(), limit=1))
    return row


@pytest.mark.parametrize("mode", ["replay", "batch"])
async def test_a_v2_base_url_and_per_sec_keys_reach_an_upstream_that_checks_keys(
    make_rig: MakeRig, clock: ManualClock, mode: str
) -> None:
    rig = await make_rig(
        mode=mode, keys=["k-a", "k-default"], url_suffix="/v2/",
        upstream={"section_keys": {"sec-a": "k-a"}, "api_key": "k-default"},
    )  # fmt: skip
    await ingest(rig.db, clock, 6, profiles=2, sec="sec-a", prefix="a")
    await ingest(rig.db, clock, 6, profiles=2, sec="sec-b", prefix="b")

    report = await rig.pusher.drain()

    assert (report.delivered, rig.state.paused_secs) == (12, {})
    assert rig.client.bearer("sec-a") == "k-a" and rig.client.bearer("sec-b") == "k-default"
    assert {i["path"] for i in await rig.received()} == ({"/v2/event"} if mode == "replay" else {"/event"})


async def test_unreachable_and_slow_upstreams_are_retryable_results_not_exceptions(
    make_rig: MakeRig, clock: ManualClock
) -> None:
    rig = await make_rig(faults=FaultConfig(latency_ms=400), upstream={"timeout_s": 0.1})
    await ingest(rig.db, clock, 1, profiles=1)
    row = await first_row(rig)

    slow = await rig.client.replay(row)

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = await make_rig(sim=rig.sim, upstream={"url": f"http://127.0.0.1:{port}"})
    refused = await closed.client.replay(row)
    batch = await closed.client.batch([row], bearer=None)

    assert (slow.status, slow.outcome) == (None, "retry") and "timeout" in (slow.error or "")
    assert (refused.status, refused.outcome) == (None, "retry") and "Connect" in (refused.error or "")
    assert (batch.call.status, batch.items) == (None, {})


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "delivered"), (204, "delivered"), (409, "delivered"), (408, "retry"), (425, "retry"),
        (429, "retry"), (500, "retry"), (503, "retry"), (None, "retry"), (302, "retry"), (401, "auth"),
        (403, "auth"), (400, "dead"), (404, "dead"), (413, "dead"), (422, "dead"),
    ],
)  # fmt: skip
def test_classification(status: int | None, outcome: str) -> None:
    assert classify(status) == outcome


def test_retry_after_is_seconds_or_an_http_date_within_an_hour() -> None:
    now = 1_790_000_000.0
    assert parse_retry_after("5", now) == 5.0
    assert parse_retry_after("Mon, 21 Sep 2026 14:13:50 GMT", now) == pytest.approx(30.0)
    assert parse_retry_after("999999", now) == 3600.0
    assert parse_retry_after("-3", now) == 0.0
    assert [parse_retry_after(v, now) for v in (None, "", "soon", "nan")] == [None] * 4


def test_backoff_is_full_jitter_under_an_exponential_ceiling_capped() -> None:
    assert [backoff_ceiling(n, 1.0, 300.0) for n in (1, 2, 3, 9, 10, 10_000)] == [1, 2, 4, 256, 300, 300]
    rng = random.Random(1)
    delays = [backoff_delay(12, 1.0, 300.0, rng) for _ in range(2000)]
    assert 0 <= min(delays) < 15 and 285 < max(delays) <= 300
    assert 135 < sum(delays) / len(delays) < 165  # uniform over [0, cap]: mean ≈ cap / 2


async def test_the_token_bucket_holds_the_rate_and_never_spins_on_a_frozen_clock() -> None:
    clock = ManualClock()

    async def advance(seconds: float) -> None:
        clock.advance(seconds)

    bucket = TokenBucket(10, now=clock.now, sleep=advance)
    start = clock.now()
    for _ in range(21):
        await bucket.take()
    assert clock.now() - start == pytest.approx(2.0)

    frozen = TokenBucket(10, now=ManualClock().now, sleep=lambda s: asyncio.sleep(0))
    await asyncio.wait_for(asyncio.gather(*(frozen.take() for _ in range(5))), timeout=5)


async def test_calls_are_capped_by_max_in_flight_and_max_rate(make_rig: MakeRig, clock: ManualClock) -> None:
    rig = await make_rig(faults=FaultConfig(latency_ms=5), sync={"max_in_flight": 3, "max_rate": 200})
    await ingest(rig.db, clock, 60, profiles=60)
    in_flight, peak = 0, 0

    async def started(*_: Any) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)

    async def ended(*_: Any) -> None:
        nonlocal in_flight
        in_flight -= 1

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(started)
    trace.on_request_end.append(ended)
    trace.on_request_exception.append(ended)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        client = UpstreamClient(session, rig.settings, clock=clock)
        pusher = Pusher(rig.db, client, rig.settings, clock, SyncState(), sleep=rig.pusher.sleep)
        start = clock.now()
        report = await pusher.drain()

    assert report.delivered == 60
    assert peak == 3
    assert clock.now() - start >= 59 / 200  # paced in (virtual) time by the token bucket


async def test_the_first_scheduled_drain_waits_a_start_jitter(make_rig: MakeRig, clock: ManualClock) -> None:
    rig = await make_rig(sync={"start_jitter_s": 10})
    forced = Pusher(rig.db, rig.client, rig.settings, clock, rig.state, sleep=rig.pusher.sleep)

    t0 = clock.now()
    await forced.drain(force=True)  # "sync now" never waits
    t1 = clock.now()
    await rig.pusher.drain()
    t2 = clock.now()
    await rig.pusher.drain()
    t3 = clock.now()

    assert t1 - t0 < 0.01 and 0 < t2 - t1 <= 10 and t3 - t2 < 0.01


def row(seq: int, sec: str = "s", size: int = 100) -> OutboxRow:
    return OutboxRow(seq, f"id-{seq}", sec, "POST", "/event", "x" * size, f"u{seq}", 0.0, 0)


def test_batches_group_by_bearer_and_respect_item_and_byte_limits() -> None:
    rows = [row(1, "a"), row(2, "b"), row(3, "a"), row(4, "a", size=5000), row(5, "a"), row(6, "a")]
    bearer = {"a": "k1", "b": None}.get

    plan = plan_batches(rows, bearer=bearer, max_items=2, max_bytes=4096)

    assert [(key, [r.seq for r in batch]) for key, batch in plan.batches] == [
        ("k1", [1, 3]), (None, [2]), ("k1", [5, 6]),
    ]  # fmt: skip
    assert [r.seq for r in plan.single] == [4]


async def test_a_row_too_large_for_a_batch_is_replayed(make_rig: MakeRig, clock: ManualClock) -> None:
    rig = await make_rig(mode="batch", sync={"batch_max_bytes": 2048})
    await ingest(rig.db, clock, 4, profiles=4)
    await rig.db.write(
        lambda c: c.execute(
            "UPDATE outbox SET body = json_set(body, '$.pad', ?) WHERE seq = 2", ("x" * 3000,)
        )
    )

    report = await rig.pusher.drain()

    assert report.delivered == 4
    assert [(i["seq"], i["via"]) for i in sorted(await rig.received(), key=lambda i: i["seq"])] == [
        (1, "batch"), (2, "replay"), (3, "batch"), (4, "batch"),
    ]  # fmt: skip


async def test_a_batch_drain_marks_each_round_in_bounded_writes(
    make_rig: MakeRig, clock: ManualClock
) -> None:
    """A request's write must never queue behind one write of a whole wave's marks (8,000 rows held the
    writer 100 ms): each round is written when it is answered, at most FLUSH_MAX_MARKS rows per write."""
    rig = await make_rig(mode="batch", sync={"batch_max_items": 500, "max_in_flight": 4})
    await ingest(rig.db, clock, 1200, profiles=600)  # one wave of 1,200 rows: two rounds of 600 heads
    commits = rig.db.commits

    report = await rig.pusher.drain()

    assert (report.delivered, await rig.pending()) == (1200, 0)
    assert rig.db.commits - commits >= 2 * -(-600 // FLUSH_MAX_MARKS)  # was 3: agent id, prune, marks
    stats = await rig.agent_stats()
    assert (stats["unique"], stats["duplicates"]) == (1200, 0)


def test_stored_paths_are_joined_under_the_base_url(make_settings: Callable[..., Settings]) -> None:
    assert [sdk_path(p) for p in ("/event", "//v2//event", "/v2", "engagement")] == [
        "/event", "/event", "/", "/engagement",
    ]  # fmt: skip
    settings = make_settings(upstream={"url": "http://127.0.0.1:9/v2/"})
    client = UpstreamClient(None, settings)  # type: ignore[arg-type]  # builds URLs only, never calls
    assert str(client.url("/engagement", "type=A&decisionId=gf%3As%3Au%3A1")) == (
        "http://127.0.0.1:9/v2/engagement?type=A&decisionId=gf%3As%3Au%3A1"
    )
    with pytest.raises(ValueError, match=r"upstream\.url"):
        UpstreamClient(None, make_settings())  # type: ignore[arg-type]
