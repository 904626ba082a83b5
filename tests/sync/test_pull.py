"""The bundle pull against the reference upstream on loopback and the real agent: full, 304, delta, a delta
on another base, refused answers that leave the old bundle serving, failures, and what /status shows."""

from __future__ import annotations

import copy
import json
import socket
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Handler

from edge_agent.agent.keys import sync_jobs_key
from edge_agent.clock import ManualClock
from edge_agent.storage.bundles import COLLECTIONS
from edge_agent.sync.jobs import SyncJobs
from tests.conftest import MakeClient, MakeSim, upstream_url, write_version
from tests.helpers import db_rows
from tests.sync.pull_support import admin_sync, marker_bundle, marker_text, status

QUIET = {"start_jitter_s": 3600, "push_interval_s": 3600}  # nothing runs unless a test asks


@pytest.fixture
def v1(demo_bundle: dict[str, Any]) -> dict[str, Any]:
    return marker_bundle(demo_bundle, "v1")


@pytest.fixture
def v2(v1: dict[str, Any]) -> dict[str, Any]:
    """v1 with the marker text changed, one segment and its users removed, one product added."""
    bundle = copy.deepcopy(v1) | {"version": "v2"}
    bundle["campaigns"][-1]["experiences"][0]["variations"][0]["contents"][0]["variables"]["text"] = "from v2"
    bundle["catalog"].append({"productId": "sku-2001", "name": "New", "price": 1.0})
    bundle["catalog"] = bundle["catalog"][1:]
    return bundle


@pytest.fixture
def seen() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def recorder(seen: list[dict[str, Any]]) -> Any:
    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.endswith("/edge/v1/bundle"):
            seen.append({"method": request.method, "query": dict(request.query), **request.headers})
        return await handler(request)

    return record


@pytest.fixture
def upstream_bundles(v1: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"0001-v1.json": v1}


@pytest.fixture
def upstream_middlewares(recorder: Any) -> list[Any]:
    return [recorder]


@pytest.fixture
async def agent(make_client: MakeClient, upstream: TestServer) -> TestClient:
    client = await make_client(upstream={"url": upstream_url(upstream), "api_key": "k-up"}, sync=QUIET)
    client.app[sync_jobs_key].pause()
    return client


def jobs(agent: TestClient) -> SyncJobs:
    return agent.app[sync_jobs_key]


async def add_version(sim: TestClient, bundle: dict[str, Any]) -> None:
    response = await sim.post("/sim/bundles", json=bundle)
    assert response.status == 201, await response.text()


async def faults(sim: TestClient, **config: Any) -> None:
    response = await sim.post("/sim/faults", json=config)
    assert response.status == 200, await response.text()


def stored(agent: TestClient, slot: str = "current") -> dict[str, Any]:
    path = agent.app[sync_jobs_key].settings.storage.path
    rows = db_rows(path, "SELECT version, source, etag, body FROM bundles WHERE slot = ?", (slot,))
    assert rows, f"no {slot} bundle stored"
    return {**dict(rows[0]), "doc": json.loads(rows[0]["body"])}


async def test_first_pull_replaces_the_demo_bundle_in_full(agent: TestClient, clock: ManualClock) -> None:
    assert (await status(agent))["bundle"]["version"] == "demo-1"
    assert await marker_text(agent) is None

    pull = (await admin_sync(agent))["pull"]

    assert pull["outcome"] == "full" and pull["version"] == "v1" and pull["errors"] == []
    st = await status(agent)
    assert st["bundle"]["version"] == "v1" and st["bundle"]["source"] == "upstream"
    assert st["sync"]["lastPull"] == {"at": clock.now(), "outcome": "full", "version": "v1", "errors": []}
    assert st["sync"]["state"] == "online" and st["sync"]["upstream"].startswith("http://127.0.0.1:")
    assert await marker_text(agent) == "from v1"
    assert stored(agent)["etag"] == '"v1"'
    assert stored(agent, "previous")["version"] == "demo-1"


async def test_an_unchanged_bundle_is_a_304_that_moves_last_checked(
    agent: TestClient, clock: ManualClock, seen: list[dict[str, Any]]
) -> None:
    await admin_sync(agent)
    loaded_at = (await status(agent))["bundle"]["loadedAt"]
    clock.advance(100)

    report = await jobs(agent).pull(force=True)

    assert report is not None and report.outcome == "not_modified" and report.status == 304
    assert seen[-1]["If-None-Match"] == '"v1"' and seen[-1]["query"] == {"since": "v1"}
    assert seen[-1]["Authorization"] == "Bearer k-up"
    st = await status(agent)
    assert st["sync"]["lastPull"]["at"] == clock.now() and st["sync"]["lastPull"]["outcome"] == "not_modified"
    assert st["bundle"]["loadedAt"] == loaded_at  # not installed again
    path = jobs(agent).settings.storage.path
    checked = db_rows(path, "SELECT value FROM meta WHERE key = 'bundle_checked_at'")
    assert float(checked[0]["value"]) == clock.now()


async def test_a_delta_is_applied_on_the_current_bundle(
    agent: TestClient, sim: TestClient, v2: dict[str, Any], seen: list[dict[str, Any]]
) -> None:
    await admin_sync(agent)
    await add_version(sim, v2)

    pull = (await admin_sync(agent))["pull"]

    assert (pull["outcome"], pull["base"], pull["version"], pull["refetched"]) == ("delta", "v1", "v2", False)
    assert seen[-1]["query"] == {"since": "v1"}
    doc = stored(agent)["doc"]
    for name, key in COLLECTIONS.items():
        assert [item[key] for item in doc[name]] == [item[key] for item in v2[name]], name
        assert doc[name] == v2[name], name
    assert await marker_text(agent) == "from v2"
    assert stored(agent, "previous")["version"] == "v1"


async def test_a_delta_on_another_base_is_asked_again_in_full(
    make_sim: MakeSim, make_client: MakeClient, sim_dir: Path, v1: dict[str, Any], v2: dict[str, Any]
) -> None:
    requests: list[dict[str, str]] = []

    @web.middleware
    async def rebase(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Claims every delta is based on a version the agent never had."""
        requests.append(dict(request.query))
        response = await handler(request)
        if isinstance(response, web.Response) and isinstance(response.body, bytes) and response.body:
            body = orjson.loads(response.body)
            if isinstance(body, dict) and body.get("full") is False:
                body["base"] = "v0-elsewhere"
                return web.json_response(body, headers={"ETag": response.headers["ETag"]})
        return response

    write_version(sim_dir, "0001-v1.json", v1)
    server = (await make_sim(middlewares=[rebase])).server
    agent = await make_client(upstream={"url": upstream_url(server)}, sync=QUIET)
    assert (await admin_sync(agent))["pull"]["outcome"] == "full"
    write_version(sim_dir, "0002-v2.json", v2)

    pull = (await admin_sync(agent))["pull"]

    assert (pull["outcome"], pull["version"], pull["refetched"]) == ("full", "v2", True)
    assert requests[-2:] == [{"since": "v1"}, {}]
    assert stored(agent)["doc"]["catalog"] == v2["catalog"]
    assert await marker_text(agent) == "from v2"


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("invalid", "version: missing from the answer (empty or invalid bundle)"),
        ("empty", "bundle: empty answer (no body)"),
    ],
)
async def test_an_invalid_or_empty_answer_is_refused_and_the_old_bundle_keeps_serving(
    agent: TestClient, sim: TestClient, v2: dict[str, Any], fault: str, error: str
) -> None:
    await admin_sync(agent)
    await add_version(sim, v2)
    await faults(sim, bundleFault=fault)

    pull = (await admin_sync(agent))["pull"]

    assert pull["outcome"] == "rejected" and pull["errors"] == [error]
    st = await status(agent)
    assert st["bundle"]["version"] == "v1"
    assert st["sync"]["lastPull"]["outcome"] == "rejected" and st["sync"]["lastPull"]["errors"] == [error]
    assert st["sync"]["lastError"] == f"bundle rejected: {error}"
    assert st["sync"]["state"] == "online"  # it answered; only the bundle was bad
    assert await marker_text(agent) == "from v1"
    assert stored(agent)["version"] == "v1"


async def test_a_bundle_failing_validation_is_refused_listing_every_problem(
    agent: TestClient, sim: TestClient, v1: dict[str, Any]
) -> None:
    await admin_sync(agent)
    bad = copy.deepcopy(v1) | {"version": "v2-bad"}
    bad["campaigns"][0]["experiences"][0]["variations"][0]["weight"] = -1
    bad["campaigns"][2]["priority"] = "high"
    await add_version(sim, bad)

    pull = (await admin_sync(agent))["pull"]

    assert pull["outcome"] == "rejected" and pull["version"] == "v2-bad"
    assert any(e.startswith("campaigns.0.experiences.0.variations.0.weight:") for e in pull["errors"])
    assert any(e.startswith("campaigns.2.priority:") for e in pull["errors"])
    assert (await status(agent))["sync"]["lastPull"]["errors"] == pull["errors"]
    assert await marker_text(agent) == "from v1"
    assert stored(agent)["version"] == "v1"


async def test_a_valid_bundle_with_zero_campaigns_replaces(
    agent: TestClient, sim: TestClient, v1: dict[str, Any]
) -> None:
    await admin_sync(agent)
    await add_version(sim, v1 | {"version": "v2-empty", "campaigns": []})

    pull = (await admin_sync(agent))["pull"]

    assert pull["outcome"] == "delta" and pull["version"] == "v2-empty"
    assert (await status(agent))["bundle"]["campaigns"] == 0
    assert await marker_text(agent) is None


async def test_an_outage_is_an_error_that_honours_retry_after(
    agent: TestClient, sim: TestClient, clock: ManualClock
) -> None:
    await faults(sim, outage=True, retryAfter=900)

    pull = (await admin_sync(agent))["pull"]

    assert pull["outcome"] == "error" and pull["status"] == 503 and pull["retryAfter"] == 900
    st = (await status(agent))["sync"]
    assert st["state"] == "degraded" and st["consecutiveFailures"] == 1
    assert st["nextPullAt"] == pytest.approx(clock.now() + 900)
    assert (await status(agent))["bundle"]["version"] == "demo-1"
    clock.advance(600)  # the stretched interval is over, Retry-After is not
    assert await jobs(agent).pull() is None


async def test_failures_stretch_the_interval_and_a_success_resets_it(
    agent: TestClient, sim: TestClient, clock: ManualClock
) -> None:
    interval = jobs(agent).settings.sync.pull_interval_s
    await faults(sim, outage=True)
    for _ in range(3):
        assert (await admin_sync(agent))["pull"]["outcome"] == "error"
    wait = (await status(agent))["sync"]["nextPullAt"] - clock.now()
    assert 0.8 * 4 * interval <= wait <= 1.2 * 4 * interval

    await faults(sim)
    assert (await admin_sync(agent))["pull"]["outcome"] == "full"
    wait = (await status(agent))["sync"]["nextPullAt"] - clock.now()
    assert 0.8 * interval <= wait <= 1.2 * interval
    assert jobs(agent).puller is not None and jobs(agent).puller.failures == 0


async def test_an_unreachable_upstream_is_offline(make_client: MakeClient, clock: ManualClock) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    agent = await make_client(
        upstream={"url": f"http://127.0.0.1:{port}", "connect_timeout_s": 2}, sync=QUIET
    )

    pull = (await admin_sync(agent))["pull"]

    assert pull["outcome"] == "error" and pull["status"] is None
    assert pull["errors"][0].startswith("upstream unreachable:")
    st = (await status(agent))["sync"]
    assert st["state"] == "offline" and st["lastError"].startswith("upstream unreachable:")
    assert (await status(agent))["bundle"]["version"] == "demo-1"


async def test_metrics_count_pulls_by_outcome(agent: TestClient, sim: TestClient) -> None:
    await admin_sync(agent)
    await faults(sim, bundleFault="empty")
    await add_version(sim, {"schema": 1, "version": "v2"})
    await admin_sync(agent)

    text = await (await agent.get("/metrics")).text()

    assert 'edge_agent_sync_attempts_total{job="pull",outcome="full"} 1.0' in text
    assert 'edge_agent_sync_attempts_total{job="pull",outcome="rejected"} 1.0' in text
    assert 'edge_agent_sync_state{state="online"} 1.0' in text
    assert 'edge_agent_delivered_total{reason="accepted"} 0.0' in text
    assert "edge_agent_bundle_age_seconds" in text
