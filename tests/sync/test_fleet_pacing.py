"""Fleet-aware pacing: AIMD on the agent's own rate, jitter on Retry-After, and the reference upstream's
fleet-wide rate limit with its per-second arrivals."""

from __future__ import annotations

import random

import pytest
from aiohttp.test_utils import TestClient

from edge_agent.clock import ManualClock
from edge_agent.sync.pacing import AIMD_FLOOR, AIMD_INCREASE, Pace, retry_after_delay
from tests.conftest import MakeSim
from tests.sync.conftest import MakeRig, ingest


async def no_sleep(seconds: float) -> None:
    return None


def test_429_and_503_halve_the_rate_and_quiet_seconds_add_it_back() -> None:
    clock = ManualClock()
    pace = Pace(40.0, now=clock.now, sleep=no_sleep)
    for status in (429, 503, 429):
        pace.answered(status)
    assert pace.rate == 5.0
    pace.answered(500)  # a failure, but not "slow down": no change
    assert pace.rate == 5.0
    clock.advance(3)
    pace.answered(200)
    assert pace.rate == 5.0 + 3 * AIMD_INCREASE
    clock.advance(1000)
    pace.answered(200)
    assert pace.rate == 40.0  # never above sync.max_rate
    for _ in range(50):
        pace.answered(429)
    assert pace.rate == AIMD_FLOOR


def test_a_retry_after_is_a_minimum_with_jitter_above_it() -> None:
    rng = random.Random(3)
    ones = [retry_after_delay(1.0, rng) for _ in range(2000)]
    assert all(1.0 <= d <= 2.0 for d in ones) and min(ones) < 1.05 and max(ones) > 1.95
    assert all(120.0 <= retry_after_delay(120.0, rng) <= 180.0 for _ in range(200))


@pytest.fixture
async def limited(make_sim: MakeSim, clock: ManualClock) -> TestClient:
    return await make_sim(clock=clock, rate=3)


async def test_the_upstream_refuses_above_its_rate_with_retry_after_1_and_counts_arrivals(
    limited: TestClient, clock: ManualClock
) -> None:
    clock.set(1_790_000_000.25)
    answers = [await limited.get("/edge/v1/bundle") for _ in range(5)]  # any data route counts
    clock.advance(1)
    later = await limited.get("/edge/v1/bundle")

    assert [a.status for a in answers] == [404, 404, 404, 429, 429]
    assert [a.headers.get("Retry-After") for a in answers[3:]] == ["1", "1"]
    assert later.status == 404  # a new second, a new allowance
    report = await (await limited.get("/sim/arrivals")).json()
    assert report["ratePerS"] == 3 and report["peakPerS"] == 5
    assert (report["accepted"], report["refused"]) == (4, 2)
    assert report["seconds"] == [
        {"second": 1_790_000_000, "accepted": 3, "refused": 2},
        {"second": 1_790_000_001, "accepted": 1, "refused": 0},
    ]
    await limited.post("/sim/reset")
    assert (await (await limited.get("/sim/arrivals")).json())["seconds"] == []


async def test_a_drain_refused_by_the_rate_limit_slows_down_and_waits_past_retry_after(
    make_rig: MakeRig, make_sim: MakeSim, clock: ManualClock
) -> None:
    sim = await make_sim(clock=clock, rate=2)
    rig = await make_rig(sim=sim, sync={"max_rate": 8, "max_in_flight": 1})
    await ingest(rig.db, clock, 6, profiles=6)

    report = await rig.pusher.drain()

    assert report.delivered >= 2 and report.stopped_because == "retry_after"
    assert rig.pusher.pace.rate == 4.0  # one 429: halved
    assert rig.state.next_attempt_at is not None
    assert clock.now() + 1.0 <= rig.state.next_attempt_at <= clock.now() + 2.0
    await rig.drain_until_empty()
    assert len(await rig.received()) == 6
