"""Fault injection in the reference upstream: each kind, its accounting, and that a refused call is
never recorded as received (the agent must send it again)."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from edge_agent.clock import ManualClock
from edge_agent.upstream_sim import FaultConfig
from tests.conftest import MakeSim


async def configure(sim: TestClient, **faults: Any) -> None:
    response = await sim.post("/sim/faults", json=faults)
    assert response.status == 200, await response.text()


async def send(
    sim: TestClient, key: str, seq: int = 1, types: tuple[str, ...] = ("cart",)
) -> aiohttp.ClientResponse:
    body = {"sec": "sec1", "user": {"uid": "u1", "ses": "s1"}, "data": [{"type": t} for t in types]}
    headers = {"Idempotency-Key": key, "X-Edge-Agent-Id": "agent-1", "X-Edge-Sequence": str(seq)}
    return await sim.post("/event", json=body, headers=headers)


def batch_item(key: str, seq: int, types: tuple[str, ...] = ("cart",)) -> dict[str, Any]:
    body = {"sec": "sec1", "user": {"uid": "u1", "ses": "s1"}, "data": [{"type": t} for t in types]}
    return {"id": key, "seq": seq, "method": "POST", "path": "/event", "receivedAt": None, "body": body}


async def stats(sim: TestClient) -> dict[str, Any]:
    body: dict[str, Any] = await (await sim.get("/sim/stats")).json()
    return body


async def unique(sim: TestClient) -> int:
    agent = (await stats(sim))["agents"].get("agent-1")
    return 0 if agent is None else int(agent["unique"])


async def test_the_error_rate_is_random_but_reproducible_with_a_seed(sim: TestClient) -> None:
    await configure(sim, errorRate=0.5, seed=42)
    first = [(await send(sim, f"a{n}", n)).status for n in range(1, 41)]
    await configure(sim, errorRate=0.5, seed=42)
    second = [(await send(sim, f"b{n}", n)).status for n in range(1, 41)]

    assert first == second
    assert set(first) == {200, 503}
    errors = first.count(503) * 2
    assert (await stats(sim))["faults"] == {"error": errors}
    assert await unique(sim) == 80 - errors


async def test_injected_statuses_are_picked_from_the_list(sim: TestClient) -> None:
    await configure(sim, errorRate=1, errorStatuses=[500, 429], seed=1)

    statuses = {(await send(sim, f"k{n}", n)).status for n in range(1, 21)}

    assert statuses == {500, 429}
    assert await unique(sim) == 0


async def test_injected_retryable_errors_carry_retry_after(sim: TestClient) -> None:
    await configure(sim, errorRate=1, retryAfter=7)
    response = await send(sim, "k1")

    assert response.status == 503
    assert response.headers["Retry-After"] == "7"
    assert (await response.json())["status"] == 503


async def test_a_non_retryable_injected_status_has_no_retry_after(sim: TestClient) -> None:
    await configure(sim, statusForPaths={"/v2/event": 400}, retryAfter=7)

    response = await send(sim, "k1")

    assert response.status == 400
    assert "Retry-After" not in response.headers
    assert (await stats(sim))["faults"] == {"status_for_path": 1}


async def test_fixed_latency_delays_the_answer(sim: TestClient) -> None:
    await configure(sim, latencyMs=200)

    started = time.monotonic()
    response = await send(sim, "k1")

    assert response.status == 200
    assert time.monotonic() - started >= 0.2
    assert (await stats(sim))["faults"] == {"latency": 1}


async def test_ranged_latency_delays_each_answer_by_at_least_the_minimum(sim: TestClient) -> None:
    await configure(sim, latencyMs=[100, 150], seed=3)

    for n in range(1, 4):
        started = time.monotonic()
        await send(sim, f"k{n}", n)
        assert time.monotonic() - started >= 0.1

    assert (await stats(sim))["faults"] == {"latency": 3}


async def test_a_reset_is_a_client_side_connection_error_and_is_not_recorded(sim: TestClient) -> None:
    await configure(sim, resetRate=1)

    with pytest.raises(aiohttp.ClientConnectionError):
        await send(sim, "k1")

    assert (await stats(sim))["faults"] == {"reset": 1}
    assert await unique(sim) == 0
    await configure(sim)
    assert (await send(sim, "k1")).status == 200
    assert await unique(sim) == 1


async def test_an_outage_refuses_every_data_route_but_not_the_control_api(sim: TestClient) -> None:
    await configure(sim, outage=True, retryAfter=30)

    replay = await send(sim, "k1")
    batch = await sim.post("/edge/v1/batch", json={"agentId": "agent-1", "items": [batch_item("k2", 2)]})
    bundle = await sim.get("/edge/v1/bundle")

    assert [replay.status, batch.status, bundle.status] == [503, 503, 503]
    assert replay.headers["Retry-After"] == "30"
    body = await stats(sim)
    assert body["faults"] == {"outage": 3}
    assert body["agents"] == {}


async def test_an_outage_window_ends_at_outage_until(make_sim: MakeSim) -> None:
    clock = ManualClock(start=1_800_000_000.0)
    until = clock.now() + 60
    sim: TestClient = await make_sim(faults=FaultConfig(outage_until=until), clock=clock)

    during = await send(sim, "k1")
    clock.advance(61)
    after = await send(sim, "k1")

    assert (during.status, after.status) == (503, 200)
    [item] = (await (await sim.get("/sim/received")).json())["items"]
    assert item["arrivedAt"] == until + 1


async def test_rejected_event_types_are_422_for_replay_and_batch_items(sim: TestClient) -> None:
    await configure(sim, rejectEventTypes=["poison"])

    poisoned = await send(sim, "k1", 1, types=("cart", "poison"))
    clean = await send(sim, "k2", 2)
    batch = await sim.post(
        "/edge/v1/batch",
        json={"agentId": "agent-1", "items": [batch_item("k3", 3, ("poison",)), batch_item("k4", 4)]},
    )

    assert (poisoned.status, clean.status) == (422, 200)
    assert [r["status"] for r in (await batch.json())["results"]] == [422, 200]
    assert (await stats(sim))["faults"] == {"reject_event_type": 2}
    assert await unique(sim) == 2


async def test_status_for_the_batch_path_lets_an_agent_fall_back_to_replay(sim: TestClient) -> None:
    await configure(sim, statusForPaths={"/edge/v1/batch": 404})

    batch = await sim.post("/edge/v1/batch", json={"agentId": "agent-1", "items": [batch_item("k1", 1)]})
    replay = await send(sim, "k1")

    assert (batch.status, replay.status) == (404, 200)
    assert await unique(sim) == 1


async def test_the_error_rate_applies_per_batch_item_and_refused_items_are_not_recorded(
    sim: TestClient,
) -> None:
    await configure(sim, errorRate=0.5, seed=7)
    items = [batch_item(f"k{n}", n) for n in range(1, 41)]

    first = await (await sim.post("/edge/v1/batch", json={"agentId": "agent-1", "items": items})).json()
    statuses = [r["status"] for r in first["results"]]
    assert set(statuses) == {200, 503}
    assert await unique(sim) == statuses.count(200)

    await configure(sim)
    refused = [i for i, s in zip(items, statuses, strict=True) if s == 503]
    again = await (await sim.post("/edge/v1/batch", json={"agentId": "agent-1", "items": refused})).json()

    assert {r["status"] for r in again["results"]} == {200}
    agent = (await stats(sim))["agents"]["agent-1"]
    assert (agent["unique"], agent["duplicates"], agent["gaps"]) == (40, 0, 0)


async def test_the_batch_error_rate_fails_the_whole_call(sim: TestClient) -> None:
    await configure(sim, batchErrorRate=1, retryAfter=2)

    response = await sim.post("/edge/v1/batch", json={"agentId": "agent-1", "items": [batch_item("k1", 1)]})

    assert response.status == 503
    assert response.headers["Retry-After"] == "2"
    assert (await stats(sim))["faults"] == {"batch_error": 1}
    assert await unique(sim) == 0


async def test_the_fault_config_is_validated_and_readable(sim: TestClient) -> None:
    for bad in ({"errorRate": 2}, {"latencyMs": [5, 1]}, {"errorStatuses": [200]}, {"nope": 1}):
        response = await sim.post("/sim/faults", json=bad)
        assert response.status == 422, bad
        assert (await response.json())["errors"]

    await configure(sim, errorRate=0.1, latencyMs=[1, 2], forbidSecs=["s"])
    shown = await (await sim.get("/sim/faults")).json()

    assert (shown["errorRate"], shown["latencyMs"], shown["forbidSecs"]) == (0.1, [1, 2], ["s"])
    assert shown["errorStatuses"] == [503]
