"""Delivered, retried and dead-lettered rows are counted by reason, from the real drain against the
reference upstream, and ``/metrics`` exports every reason of the bounded set (0 until it happens)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from edge_agent.agent.metrics import Metrics
from edge_agent.clock import ManualClock
from edge_agent.sync.client import DEAD_REASONS, DELIVERED_REASONS, RETRY_REASONS, classify, reason
from edge_agent.upstream_sim import FaultConfig
from tests.agent.test_metrics import sample
from tests.sync.conftest import MakeRig, Rig, ingest


async def by_reason(rig: Rig, name: str) -> dict[str, float]:
    # The exposition as /metrics renders it (the process collector reads /proc: off the loop).
    text = (await asyncio.to_thread(lambda: Metrics(rig.state).render())).decode()
    reasons = {"edge_agent_delivered_total": DELIVERED_REASONS, "edge_agent_retried_total": RETRY_REASONS}
    out = {}
    for why in reasons.get(name, DEAD_REASONS):
        value = sample(text, name, reason=why)
        assert value is not None, f"{name}{{reason={why!r}}} is not exported"
        out[why] = value
    return out


def nonzero(counts: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in counts.items() if v}


async def test_retries_deliveries_and_dead_letters_by_reason(make_rig: MakeRig, clock: ManualClock) -> None:
    rig = await make_rig(mode="replay", faults=FaultConfig(status_for_paths={"/event": 429}))
    await ingest(rig.db, clock, 6, profiles=2, types=lambda i: "poison" if i == 5 else "cart")

    await rig.pusher.drain()
    limited = nonzero(await by_reason(rig, "edge_agent_retried_total"))
    await rig.faults(statusForPaths={"/event": 503})
    clock.advance(3600)
    await rig.pusher.drain()
    failing = nonzero(await by_reason(rig, "edge_agent_retried_total"))
    await rig.faults(resetRate=1.0)
    clock.advance(3600)
    await rig.pusher.drain()
    unanswered = nonzero(await by_reason(rig, "edge_agent_retried_total"))
    await rig.faults(rejectEventTypes=["poison"])
    clock.advance(3600)
    await rig.drain_until_empty()

    assert set(limited) == {"rate_limited"}
    assert set(failing) == {"rate_limited", "server_error"} and failing["server_error"] >= 1
    assert unanswered["no_answer"] >= 1
    assert sum(unanswered.values()) == rig.state.counters["retried"]
    assert nonzero(await by_reason(rig, "edge_agent_delivered_total")) == {"accepted": 5}
    assert nonzero(await by_reason(rig, "edge_agent_dead_lettered_total")) == {"unprocessable": 1}


async def test_a_batch_refused_as_a_whole_is_retried_under_its_own_reason(
    make_rig: MakeRig, clock: ManualClock
) -> None:
    rig = await make_rig(mode="batch", faults=FaultConfig(batch_error_rate=1.0, error_statuses=[400]))
    await ingest(rig.db, clock, 4, profiles=2)

    await rig.pusher.drain()

    retried = rig.state.counters["retried"]
    assert retried >= 1  # a batch carries one row per profile
    assert nonzero(await by_reason(rig, "edge_agent_retried_total")) == {"batch_refused": retried}
    assert rig.state.counters["dead"] == 0 and await rig.pending() == 4


def test_every_status_has_a_reason_of_its_outcome() -> None:
    sets = {"delivered": DELIVERED_REASONS, "retry": RETRY_REASONS, "dead": DEAD_REASONS}
    for status in [None, *range(100, 600)]:
        outcome = classify(status)
        if outcome != "auth":
            assert reason(status) in sets[outcome], status


def test_every_reason_is_documented() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    for why in (*DELIVERED_REASONS, *RETRY_REASONS, *DEAD_REASONS):
        assert f"`{why}`" in text, f"docs/api.md: name the reason `{why}` in the metrics section"
