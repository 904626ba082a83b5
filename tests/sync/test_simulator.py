"""The reference upstream's push side: replay recording, deduplication, sequence accounting, batch,
identity remap, auth and the control API — against the real app on a temp directory."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from edge_agent.upstream_sim import FaultConfig
from edge_agent.upstream_sim.command import upstream_sim
from edge_agent.upstream_sim.store import GAP_LIST_CAP
from tests.conftest import MakeSim


def event_body(uid: str = "u1", sec: str = "sec1", types: tuple[str, ...] = ("cart",)) -> dict[str, Any]:
    return {"sec": sec, "user": {"uid": uid, "ses": "ses-1"}, "data": [{"type": t} for t in types]}


def push_headers(key: str, seq: int, agent: str = "agent-1") -> dict[str, str]:
    return {"Idempotency-Key": key, "X-Edge-Agent-Id": agent, "X-Edge-Sequence": str(seq)}


async def stats(sim: TestClient, detail: bool = False) -> dict[str, Any]:
    response = await sim.get("/sim/stats", params={"detail": "1"} if detail else {})
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def received(sim: TestClient, agent: str | None = None) -> list[dict[str, Any]]:
    response = await sim.get("/sim/received", params={"agent": agent} if agent is not None else {})
    items: list[dict[str, Any]] = (await response.json())["items"]
    return items


async def send(sim: TestClient, key: str, seq: int, agent: str = "agent-1", **body: Any) -> int:
    response = await sim.post("/event", json=event_body(**body), headers=push_headers(key, seq, agent))
    return response.status


# --- replay -------------------------------------------------------------------------------------


async def test_replayed_call_is_recorded_and_answered_with_its_user(sim: TestClient) -> None:
    headers = push_headers("row-1", 1) | {"X-Edge-Received-At": "2026-11-27T10:00:00Z"}
    response = await sim.post("/v2/event", json=event_body("u-42", types=("cart", "view")), headers=headers)

    assert response.status == 200
    assert await response.json() == {"user": {"uid": "u-42", "ses": "ses-1"}, "campaigns": []}
    [item] = await received(sim, "agent-1")
    assert item["id"] == "row-1"
    assert item["seq"] == 1
    assert (item["method"], item["path"], item["route"]) == ("POST", "/v2/event", "/event")
    assert (item["uid"], item["sec"], item["eventTypes"]) == ("u-42", "sec1", ["cart", "view"])
    assert item["receivedAt"] == "2026-11-27T10:00:00Z"
    assert item["body"] == event_body("u-42", types=("cart", "view"))
    assert item["via"] == "replay"


@pytest.mark.parametrize("prefix", ["", "/v2"])
async def test_every_replay_route_is_served_at_the_root_and_under_v2(sim: TestClient, prefix: str) -> None:
    for n, path in enumerate(["/visit", "/user", "/event"], start=1):
        response = await sim.post(prefix + path, json=event_body(), headers=push_headers(f"k{n}", n))
        assert response.status == 200, path
    engagement = await sim.get(
        prefix + "/engagement",
        params={"type": "WIMP", "decisionId": "gf:sec9:u7:1784634211", "contentId": "c1"},
        headers=push_headers("k4", 4),
    )

    assert engagement.status == 204
    assert (await stats(sim))["paths"] == {"/engagement": 1, "/event": 1, "/user": 1, "/visit": 1}
    hit = (await received(sim))[-1]
    assert (hit["sec"], hit["uid"], hit["eventTypes"]) == ("sec9", "u7", ["WIMP"])
    assert hit["body"] == {"type": "WIMP", "decisionId": "gf:sec9:u7:1784634211", "contentId": "c1"}


async def test_batch_and_bundle_are_also_served_under_v2(sim: TestClient) -> None:
    batch = await sim.post("/v2/edge/v1/batch", json={"agentId": "a", "items": [item("k1", 1)]})
    bundle = await sim.get("/v2/edge/v1/bundle")

    assert batch.status == 200
    assert bundle.status == 404  # served, but the bundle directory is empty
    assert (await bundle.json())["errors"][0].startswith("no bundle")


async def test_a_repeated_idempotency_key_is_a_duplicate_not_stored_twice(sim: TestClient) -> None:
    statuses = [await send(sim, "row-1", 1) for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert (await stats(sim))["agents"]["agent-1"] == {
        "received": 3, "unique": 1, "duplicates": 2, "gaps": 0, "lastSeq": 1,
    }  # fmt: skip
    assert len(await received(sim)) == 1


async def test_gaps_are_computed_from_out_of_order_arrival(sim: TestClient) -> None:
    for key, seq in [("r5", 5), ("r1", 1), ("r3", 3), ("r3", 3), ("r7", 7)]:
        assert await send(sim, key, seq) == 200

    agent = (await stats(sim, detail=True))["agents"]["agent-1"]
    assert (agent["lastSeq"], agent["gaps"], agent["gapList"]) == (7, 3, [2, 4, 6])
    assert agent["duplicates"] == 1

    for key, seq in [("r6", 6), ("r2", 2), ("r4", 4)]:
        await send(sim, key, seq)
    agent = (await stats(sim, detail=True))["agents"]["agent-1"]
    assert (agent["gaps"], agent["gapList"], agent["unique"]) == (0, [], 7)


async def test_the_gap_list_is_capped_but_the_count_is_not(sim: TestClient) -> None:
    await send(sim, "first", 1)
    await send(sim, "far", 5000)

    agent = (await stats(sim, detail=True))["agents"]["agent-1"]
    assert agent["gaps"] == 4998
    assert len(agent["gapList"]) == GAP_LIST_CAP
    assert agent["gapList"][0] == 2
    assert agent["gapList"][-1] == GAP_LIST_CAP + 1


async def test_agents_are_accounted_separately_and_listed_in_arrival_order(sim: TestClient) -> None:
    for key, seq, agent, uid in [
        ("a3", 3, "A", "p1"),
        ("b1", 1, "B", "p9"),
        ("a1", 1, "A", "p2"),
        ("a2", 2, "A", "p1"),
    ]:
        await send(sim, key, seq, agent, uid=uid)

    agents = (await stats(sim))["agents"]
    assert agents["A"] == {"received": 3, "unique": 3, "duplicates": 0, "gaps": 0, "lastSeq": 3}
    assert agents["B"] == {"received": 1, "unique": 1, "duplicates": 0, "gaps": 0, "lastSeq": 1}
    assert [(i["id"], i["uid"]) for i in await received(sim, "A")] == [
        ("a3", "p1"),
        ("a1", "p2"),
        ("a2", "p1"),
    ]
    assert [i["id"] for i in await received(sim)] == ["a3", "b1", "a1", "a2"]


async def test_concurrent_out_of_order_replays_leave_no_gap(sim: TestClient) -> None:
    seqs = list(range(1, 41))
    seqs.reverse()
    statuses = await asyncio.gather(*(send(sim, f"row-{seq}", seq) for seq in seqs))

    assert set(statuses) == {200}
    agent = (await stats(sim))["agents"]["agent-1"]
    assert (agent["unique"], agent["lastSeq"], agent["gaps"]) == (40, 40, 0)


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/event", b"{not json", 422),
        ("POST", "/event", json.dumps({"user": {"uid": "u"}, "data": [{"type": "x"}]}).encode(), 422),
        ("POST", "/event", json.dumps({"sec": "s", "data": []}).encode(), 422),
        ("POST", "/event", json.dumps({"sec": "s", "data": [{"value": 1}]}).encode(), 422),
        ("POST", "/visit", b"[]", 422),
        ("GET", "/engagement?type=WIMP", b"", 422),
    ],
)
async def test_calls_the_central_api_would_refuse_are_not_recorded(
    sim: TestClient, method: str, path: str, body: bytes, status: int
) -> None:
    response = await sim.request(method, path, data=body or None, headers=push_headers("bad", 1))

    assert response.status == status
    assert (await response.json())["status"] == status
    assert (await stats(sim))["agents"] == {}


async def test_a_call_without_push_headers_is_recorded_under_the_empty_agent(sim: TestClient) -> None:
    first = await sim.post("/visit", json=event_body())
    second = await sim.post("/visit", json=event_body())

    assert (first.status, second.status) == (200, 200)
    assert (await stats(sim))["agents"][""] == {
        "received": 2, "unique": 2, "duplicates": 0, "gaps": 0, "lastSeq": 0,
    }  # fmt: skip


# --- identity remap -----------------------------------------------------------------------------


async def test_a_mapped_uid_is_answered_with_the_central_uid(sim: TestClient) -> None:
    configured = await sim.post("/sim/identity", json={"uidMap": {"local-1": "central-1"}})
    assert configured.status == 200

    mapped = await (
        await sim.post("/visit", json=event_body("local-1"), headers=push_headers("k1", 1))
    ).json()
    other = await (await sim.post("/visit", json=event_body("local-2"), headers=push_headers("k2", 2))).json()
    batched = await sim.post(
        "/edge/v1/batch",
        json={"agentId": "agent-1", "items": [item("k3", 3, body=event_body("local-1"))]},
    )

    assert mapped["user"] == {"uid": "central-1", "ses": "ses-1"}
    assert other["user"]["uid"] == "local-2"
    assert (await batched.json())["results"][0]["user"]["uid"] == "central-1"
    assert [i["uid"] for i in await received(sim)] == ["local-1", "local-2", "local-1"]
    assert await (await sim.get("/sim/identity")).json() == {"uidMap": {"local-1": "central-1"}}


async def test_the_uid_map_is_validated(sim: TestClient) -> None:
    response = await sim.post("/sim/identity", json={"uidMap": {"a": 1}})

    assert response.status == 422
    assert "uidMap.a" in (await response.json())["errors"][0]


# --- batch --------------------------------------------------------------------------------------


def item(key: str, seq: int, path: str = "/event", method: str = "POST", body: Any = None) -> dict[str, Any]:
    return {
        "id": key, "seq": seq, "method": method, "path": path, "receivedAt": "2026-11-27T10:00:00Z",
        "body": event_body() if body is None else body,
    }  # fmt: skip


async def test_batch_results_follow_the_items_and_share_accounting_with_replay(sim: TestClient) -> None:
    assert await send(sim, "replayed", 1) == 200
    items = [
        item("v2", 2, "/visit"),
        item("replayed", 1),
        item("e3", 3, "/v2/engagement?type=WCLICK&decisionId=gf:sec1:u1:1&contentId=c", "GET", {}),
        {"seq": 4, "method": "POST", "path": "/event", "body": event_body()},
        item("u5", 5, "/unknown"),
        item("m6", 6, "/event", "GET"),
        item("v7", 7, "/v2/user"),
    ]
    response = await sim.post("/edge/v1/batch", json={"agentId": "agent-1", "items": items})

    assert response.status == 200
    results = (await response.json())["results"]
    assert [(r["id"], r["status"]) for r in results] == [
        ("v2", 200), ("replayed", 200), ("e3", 204), (None, 422), ("u5", 404), ("m6", 405), ("v7", 200),
    ]  # fmt: skip
    assert results[0]["user"] == {"uid": "u1", "ses": "ses-1"}
    agent = (await stats(sim, detail=True))["agents"]["agent-1"]
    assert (agent["received"], agent["unique"], agent["duplicates"]) == (5, 4, 1)
    assert (agent["lastSeq"], agent["gapList"]) == (7, [4, 5, 6])
    engagement = next(i for i in await received(sim) if i["id"] == "e3")
    assert (engagement["route"], engagement["eventTypes"], engagement["via"]) == (
        "/engagement",
        ["WCLICK"],
        "batch",
    )
    assert engagement["receivedAt"] == "2026-11-27T10:00:00Z"


async def test_a_batch_of_500_items_is_accepted_and_501_is_refused(sim: TestClient) -> None:
    refused = await sim.post(
        "/edge/v1/batch", json={"agentId": "a", "items": [item(f"x{n}", n) for n in range(1, 502)]}
    )
    assert refused.status == 413
    assert (await stats(sim))["agents"] == {}

    accepted = await sim.post(
        "/edge/v1/batch", json={"agentId": "a", "items": [item(f"x{n}", n) for n in range(1, 501)]}
    )
    assert accepted.status == 200
    assert (await stats(sim))["agents"]["a"]["unique"] == 500


async def test_a_batch_over_512_kib_is_refused(sim: TestClient) -> None:
    padding = "p" * (256 * 1024)
    items = [item(f"big{n}", n, body=event_body() | {"pad": padding}) for n in (1, 2)]

    response = await sim.post("/edge/v1/batch", json={"agentId": "a", "items": items})

    assert response.status == 413
    assert (await stats(sim))["agents"] == {}


@pytest.mark.parametrize("envelope", [{"items": []}, {"agentId": "a"}, {"agentId": 7, "items": []}, [1]])
async def test_a_batch_envelope_needs_an_agent_id_and_items(sim: TestClient, envelope: Any) -> None:
    response = await sim.post("/edge/v1/batch", json=envelope)

    assert response.status == 422


# --- auth ---------------------------------------------------------------------------------------


async def test_with_keys_a_missing_bearer_is_401_and_a_wrong_one_403(make_sim: MakeSim) -> None:
    sim: TestClient = await make_sim(keys=["k-good"])
    routes = [("POST", "/event"), ("POST", "/edge/v1/batch"), ("GET", "/edge/v1/bundle")]

    for method, path in routes:
        missing = await sim.request(method, path, json=event_body())
        wrong = await sim.request(method, path, json=event_body(), headers={"Authorization": "Bearer nope"})
        assert missing.status == 401, path
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        assert wrong.status == 403, path
    good = await sim.post("/event", json=event_body(), headers={"Authorization": "Bearer k-good"})

    assert good.status == 200
    assert (await stats(sim))["agents"][""]["received"] == 1


async def test_without_keys_any_bearer_or_none_is_accepted(sim: TestClient) -> None:
    anonymous = await sim.post("/event", json=event_body())
    any_bearer = await sim.post("/event", json=event_body(), headers={"Authorization": "Bearer whatever"})

    assert (anonymous.status, any_bearer.status) == (200, 200)


async def test_forbidden_secs_are_answered_403_on_every_route(sim: TestClient) -> None:
    await sim.post("/sim/faults", json={"forbidSecs": ["sec-bad"]})

    bad = await sim.post("/event", json=event_body(sec="sec-bad"), headers=push_headers("k1", 1))
    good = await sim.post("/event", json=event_body(sec="sec-ok"), headers=push_headers("k2", 2))
    hit = await sim.get(
        "/engagement", params={"type": "WIMP", "decisionId": "gf:sec-bad:u1:1"}, headers=push_headers("k3", 3)
    )
    batched = await sim.post(
        "/edge/v1/batch",
        json={"agentId": "agent-1", "items": [item("k4", 4, body=event_body(sec="sec-bad")), item("k5", 5)]},
    )

    assert (bad.status, good.status, hit.status) == (403, 200, 403)
    assert [r["status"] for r in (await batched.json())["results"]] == [403, 200]
    body = await stats(sim)
    assert body["faults"] == {"forbid_sec": 3}
    assert [i["id"] for i in await received(sim)] == ["k2", "k5"]


# --- control ------------------------------------------------------------------------------------


async def test_reset_forgets_everything_and_restores_the_start_faults(make_sim: MakeSim) -> None:
    start = FaultConfig(forbid_secs=["sec-x"])
    sim: TestClient = await make_sim(faults=start)
    await send(sim, "k1", 1, sec="sec-x")
    await send(sim, "k2", 2)
    await sim.post("/sim/faults", json={"errorRate": 1})
    await sim.post("/sim/identity", json={"uidMap": {"u1": "c1"}})

    reset = await sim.post("/sim/reset")

    assert reset.status == 200
    assert await stats(sim) == {"agents": {}, "paths": {}, "faults": {}}
    assert await received(sim) == []
    assert (await (await sim.get("/sim/faults")).json())["forbidSecs"] == ["sec-x"]
    assert (await (await sim.get("/sim/identity")).json()) == {"uidMap": {}}
    assert await send(sim, "k2", 2) == 200
    assert (await stats(sim))["agents"]["agent-1"]["duplicates"] == 0


async def test_what_was_received_survives_a_restart(make_sim: MakeSim, sim_dir: Path) -> None:
    first: TestClient = await make_sim()
    await send(first, "k1", 1)
    await first.close()

    second: TestClient = await make_sim()
    await send(second, "k1", 1)

    agent = (await stats(second))["agents"]["agent-1"]
    assert (agent["unique"], agent["duplicates"]) == (1, 1)
    assert (sim_dir / "upstream.db").is_file()


# --- command ------------------------------------------------------------------------------------


def test_the_command_rejects_a_bad_latency(tmp_path: Path) -> None:
    result = CliRunner().invoke(upstream_sim, ["--data", str(tmp_path), "--latency-ms", "9,1"])

    assert result.exit_code != 0
    assert "latency" in result.output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_the_command_serves_the_app_with_its_options_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    port = free_port()
    args = ["--data", str(tmp_path / "sim"), "--port", str(port), "--keys", "k1", "--error-rate", "0.25"]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edge_agent", "upstream-sim", *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
            for _ in range(100):
                try:
                    faults = await (await session.get("/sim/faults")).json()
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("upstream-sim did not start within 10 s")
            unauthorised = await session.post("/event", json=event_body())
        assert faults["errorRate"] == 0.25
        assert unauthorised.status == 401
        assert (tmp_path / "sim" / "upstream.db").is_file()
        assert (tmp_path / "sim" / "bundles").is_dir()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=10)
    log = stderr.decode()
    assert process.returncode == 0, log
    assert f"listening on http://127.0.0.1:{port}" in log
    assert "Traceback" not in log
