"""Acceptance: the drain against a misbehaving upstream — random 503s with Retry-After, latency,
connection resets and a 10-minute outage on a shared manual clock lose nothing and duplicate nothing
(after dedup), with backoff delays within the policy; a 422 row is dead-lettered while the rest flow;
a 403 pauses only its sec; Retry-After pauses the whole drain; auto mode falls back to replay."""

from __future__ import annotations

import pytest

from edge_agent.clock import ManualClock
from edge_agent.storage import outbox_admin
from edge_agent.sync.pacing import backoff_ceiling
from edge_agent.upstream_sim import FaultConfig
from tests.sync.conftest import MakeRig, Rig, ingest, per_profile_seqs


async def fault_counts(rig: Rig) -> dict[str, int]:
    counts: dict[str, int] = (await rig.stats())["faults"]
    return counts


@pytest.mark.parametrize("mode", ["replay", "batch"])
async def test_random_errors_latency_resets_and_an_outage_lose_and_duplicate_nothing(
    make_rig: MakeRig, clock: ManualClock, mode: str
) -> None:
    events, base, cap = 400, 1.0, 20.0
    faults = FaultConfig(
        error_rate=0.3, retry_after=2, latency_ms=(0, 3), reset_rate=0.05,
        outage_until=clock.now() + 600, seed=11,
    )  # fmt: skip
    rig = await make_rig(mode=mode, faults=faults, sync={"backoff_base_s": base, "backoff_max_s": cap})
    await ingest(rig.db, clock, events, profiles=40)

    ratios: list[float] = []
    capped: list[float] = []  # delays of rows whose uncapped ceiling is above the cap
    reasons: set[str] = set()
    for _ in range(1500):
        before = {r["seq"]: r["attempts"] for r in await rig.rows("state = 'pending'")}
        t0 = clock.now()
        report = await rig.pusher.drain()
        t1 = clock.now()
        reasons.add(report.stopped_because)
        for row in await rig.rows("state = 'pending' AND attempts > 0"):
            if row["attempts"] == before.get(row["seq"]):
                continue  # not attempted in this drain
            ceiling = backoff_ceiling(row["attempts"], base, cap)
            assert t0 <= row["next_attempt_at"] <= t1 + ceiling, (row, t0, t1, ceiling)
            ratios.append((row["next_attempt_at"] - t1) / ceiling)
            if base * 2 ** (row["attempts"] - 1) > cap:
                capped.append((row["next_attempt_at"] - t1) / ceiling)
        if not await rig.pending():
            break
        due = min(r["next_attempt_at"] for r in await rig.rows("state = 'pending'"))
        clock.set(max(clock.now() + 5, due, rig.state.next_attempt_at or 0) + 0.001)
    else:
        pytest.fail("the queue did not drain")

    agent = await rig.agent_stats()
    assert (agent["unique"], agent["lastSeq"], agent["gaps"]) == (events, events, 0)
    assert agent["received"] == agent["unique"] + agent["duplicates"]
    assert all(s == sorted(s) for s in per_profile_seqs(await rig.received()).values())
    injected = await fault_counts(rig)
    assert injected["outage"] > 0 and injected["error"] > 0 and injected["reset"] > 0, injected
    assert "retry_after" in reasons
    assert await rig.rows("state = 'dead'") == []
    # Full jitter after the cap: delays spread over the whole [0, ceiling] window, never above it.
    assert len(ratios) > 30
    assert min(ratios) < 0.2 and max(ratios) > 0.8
    # Jitter is applied after the cap: capped rows are spread too, not piled up at the cap.
    assert len(capped) >= 5
    assert sum(r > 0.97 for r in capped) <= len(capped) // 5


@pytest.mark.parametrize("mode", ["replay", "batch"])
async def test_a_rejected_row_is_dead_lettered_and_the_rest_keep_flowing(
    make_rig: MakeRig, clock: ManualClock, mode: str
) -> None:
    rig = await make_rig(mode=mode, faults=FaultConfig(reject_event_types=["poison"]))
    await ingest(rig.db, clock, 30, profiles=3, types=lambda i: "poison" if i == 4 else "cart")

    await rig.drain_until_empty()

    [dead] = await rig.db.read(outbox_admin.dead_letter_rows)
    assert (dead["seq"], dead["lastStatus"], dead["attempts"]) == (5, 422, 1)
    assert "poison" in dead["body"]
    assert mode == "batch" or "422" in dead["lastError"]
    agent = await rig.agent_stats()
    assert (agent["unique"], agent["lastSeq"], agent["gaps"]) == (29, 30, 1)
    later_of_same_profile = [i["seq"] for i in await rig.received() if i["uid"] == "u0001"]
    assert later_of_same_profile == [2, 8, 11, 14, 17, 20, 23, 26, 29]
    assert rig.state.counters["dead"] == 1

    await rig.faults()
    moved = await rig.db.write(lambda c: outbox_admin.retry_dead(c, None, clock.now()))
    await rig.drain_until_empty()

    assert moved == 1
    agent = await rig.agent_stats()
    assert (agent["unique"], agent["gaps"]) == (30, 0)


@pytest.mark.parametrize("mode", ["replay", "batch"])
async def test_a_forbidden_sec_pauses_only_that_sec_until_an_operator_resumes_it(
    make_rig: MakeRig, clock: ManualClock, mode: str
) -> None:
    rig = await make_rig(mode=mode, faults=FaultConfig(forbid_secs=["sec-b"]), sync={"max_in_flight": 2})
    await ingest(rig.db, clock, 20, profiles=4, sec="sec-a", prefix="a")
    await ingest(rig.db, clock, 20, profiles=4, sec="sec-b", prefix="b")

    report = await rig.pusher.drain()

    assert report.delivered == 20
    assert report.paused_secs == ["sec-b"]
    assert rig.state.state == "degraded"
    assert set(rig.state.paused_secs) == {"sec-b"}
    pending = await rig.rows("state = 'pending'")
    assert {r["sec"] for r in pending} == {"sec-b"} and len(pending) == 20
    refused = (await fault_counts(rig))["forbid_sec"]
    assert refused <= 4  # at most one call per sec-b profile: a bad key does not burn the queue

    forced = await rig.pusher.drain(force=True)  # "sync now" does not lift an auth pause
    assert (forced.attempted, (await fault_counts(rig))["forbid_sec"]) == (0, refused)

    await rig.faults()  # the key was fixed upstream
    assert rig.pusher.resume("sec-b") == ["sec-b"]
    await rig.drain_until_empty()

    assert (await rig.agent_stats())["unique"] == 40
    assert rig.state.state == "online"


async def test_retry_after_pauses_the_whole_drain_and_force_ignores_the_pause(
    make_rig: MakeRig, clock: ManualClock
) -> None:
    rig = await make_rig(faults=FaultConfig(error_rate=1.0, retry_after=30), sync={"max_in_flight": 1})
    await ingest(rig.db, clock, 10, profiles=10)
    t0 = clock.now()

    first = await rig.pusher.drain()
    assert (first.calls, first.retried, first.stopped_because) == (1, 1, "retry_after")
    # Retry-After is a minimum: 30 s plus up to 15 s of jitter (pacing.retry_after_delay).
    assert rig.state.next_attempt_at is not None
    assert t0 + 30 <= rig.state.next_attempt_at <= clock.now() + 45
    [row] = await rig.rows("attempts > 0")
    assert t0 <= row["next_attempt_at"] <= clock.now() + rig.settings.sync.backoff_base_s

    clock.advance(10)
    waiting = await rig.pusher.drain()
    assert (waiting.calls, waiting.stopped_because) == (0, "backoff")
    assert (await fault_counts(rig))["error"] == 1

    forced = await rig.pusher.drain(force=True)
    assert forced.calls == 1 and (await fault_counts(rig))["error"] == 2

    await rig.faults()
    clock.advance(31)
    await rig.drain_until_empty()
    assert (await rig.agent_stats())["unique"] == 10


async def test_auto_mode_falls_back_to_replay_when_the_upstream_has_no_batch_route(
    make_rig: MakeRig, clock: ManualClock
) -> None:
    rig = await make_rig(mode="auto", faults=FaultConfig(status_for_paths={"/edge/v1/batch": 404}))
    await ingest(rig.db, clock, 12, profiles=3)

    report = await rig.pusher.drain()
    await ingest(rig.db, clock, 3, profiles=3)
    again = await rig.pusher.drain()

    assert (report.fell_back, report.mode, report.delivered) == (True, "replay", 12)
    assert (again.fell_back, again.mode, again.delivered) == (False, "replay", 3)
    assert {i["via"] for i in await rig.received()} == {"replay"}
    assert (await fault_counts(rig))["status_for_path"] == 1  # the batch route was tried once
    assert await rig.rows("attempts > 1") == []


async def test_a_single_profile_backlog_keeps_its_order_in_batch_mode_despite_item_errors(
    make_rig: MakeRig, clock: ManualClock
) -> None:
    rig = await make_rig(mode="batch", faults=FaultConfig(error_rate=0.3, seed=5))
    await ingest(rig.db, clock, 60, profiles=1)

    reports = await rig.drain_until_empty()

    assert [i["seq"] for i in await rig.received()] == list(range(1, 61))
    # One row of the profile per call: a later row never rides in a batch with an earlier one.
    assert sum(r.calls for r in reports) == sum(r.attempted for r in reports)
    assert (await fault_counts(rig))["error"] > 0
