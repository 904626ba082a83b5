"""Acceptance: events ingested while the upstream is down are all delivered once it is back — exactly once
as the upstream sees it (deduplicated by Idempotency-Key, no sequence gap), in per-profile order."""

from __future__ import annotations

import time

import pytest

from edge_agent.clock import ManualClock
from edge_agent.sync.pacing import TRIP_AFTER
from edge_agent.upstream_sim import FaultConfig
from tests.sync.conftest import MakeRig, ingest, per_profile_seqs


@pytest.mark.parametrize(
    ("mode", "events", "profiles"),
    [
        ("batch", 10_000, 500),
        # 10,000 replayed calls take ~10 s on loopback: the fast suite proves the rules with 2,000.
        ("replay", 2_000, 100),
        pytest.param("replay", 10_000, 500, marks=pytest.mark.slow),
    ],
)
async def test_events_queued_during_an_outage_are_delivered_exactly_once_in_profile_order(
    make_rig: MakeRig, clock: ManualClock, mode: str, events: int, profiles: int
) -> None:
    rig = await make_rig(mode=mode, faults=FaultConfig(outage=True))
    await ingest(rig.db, clock, events, profiles=profiles)

    down = await rig.pusher.drain()
    assert down.delivered == 0
    # A dead upstream stops the drain after a few calls: the queue is not walked into it.
    assert down.calls <= TRIP_AFTER + rig.settings.sync.max_in_flight
    assert rig.state.state == "degraded"  # reachable (503s), but refusing
    assert await rig.pending() == events

    await rig.faults()  # the upstream is back
    started = time.monotonic()
    await rig.drain_until_empty()
    elapsed = time.monotonic() - started

    agent = await rig.agent_stats()
    assert (agent["unique"], agent["lastSeq"], agent["gaps"]) == (events, events, 0)
    assert agent["received"] == agent["unique"] + agent["duplicates"]
    seqs = per_profile_seqs(await rig.received())
    assert len(seqs) == profiles
    assert all(s == sorted(s) for s in seqs.values()), "a profile's rows arrived out of order"
    assert {i["via"] for i in await rig.received()} == {mode}
    assert rig.state.state == "online"
    assert rig.state.counters["delivered"] == events
    assert elapsed < 60


async def test_an_upstream_that_stays_down_costs_a_call_per_backoff_not_per_drain(
    make_rig: MakeRig, clock: ManualClock
) -> None:
    """Ten minutes of scheduled drains (every 5 s, a new event before each) into an upstream that stays
    down: the failure streak outlives a drain, so after ``TRIP_AFTER`` failures each drain waits out a
    growing backoff and then sends a single call, instead of one call per drain (120 here)."""
    rig = await make_rig(mode="batch", faults=FaultConfig(outage=True), sync={"max_in_flight": 4})
    calls, drains = 0, 120
    for n in range(drains):
        await ingest(rig.db, clock, 1, profiles=1, prefix=f"p{n:03d}-")
        report = await rig.pusher.drain()
        calls += report.calls
        assert report.calls <= 1 or n == 0 or not rig.pusher.pace.failing
        clock.advance(rig.settings.sync.push_interval_s)

    assert rig.pusher.pace.failing and rig.pusher.pace.trips >= 5
    assert calls <= 30, f"{calls} calls in {drains} drains"
    assert await rig.pending() == drains

    await rig.faults()  # back: the probe's forced drain sends everything
    report = await rig.pusher.drain(force=True)
    assert report.delivered == drains and await rig.pending() == 0
    assert not rig.pusher.pace.failing and rig.pusher.pace.trips == 0
