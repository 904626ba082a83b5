"""The sync scheduler on the real agent and the reference upstream: jobs run by themselves and never pile
up, shutdown is clean even with a call in flight, the upstream coming back triggers a drain, POST
/admin/sync (and the drain behind it), offline."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge_agent.agent.keys import sync_jobs_key
from edge_agent.clock import ManualClock
from edge_agent.storage.values import rfc3339
from edge_agent.sync.jobs import SyncJobs, UpstreamNotConfigured
from tests.agent.daemon import free_port
from tests.conftest import MakeClient, upstream_url
from tests.helpers import db_rows, envelope
from tests.sync.pull_support import admin_sync, marker_bundle, status

QUIET = {"start_jitter_s": 3600, "push_interval_s": 3600}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """The agent's database file (``make_settings`` puts it there)."""
    return tmp_path / "agent.db"


@pytest.fixture
def upstream_bundles(demo_bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"0001-v1.json": marker_bundle(demo_bundle, "v1")}


def jobs(agent: TestClient) -> SyncJobs:
    return agent.app[sync_jobs_key]


async def faults(sim: TestClient, **config: Any) -> None:
    response = await sim.post("/sim/faults", json=config)
    assert response.status == 200


async def wait_for(predicate: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_the_scheduler_pulls_by_itself_and_stops_cleanly(
    make_client: MakeClient, upstream: TestServer
) -> None:
    agent = await make_client(
        upstream={"url": upstream_url(upstream)}, sync={"start_jitter_s": 0, "pull_interval_s": 1}
    )

    async def pulled() -> bool:
        return (await status(agent))["sync"]["lastPull"].get("outcome") == "full"

    await wait_for(pulled)
    assert (await status(agent))["bundle"]["version"] == "v1"

    await jobs(agent).stop()
    assert jobs(agent)._scheduler is None and not jobs(agent).in_flight()
    await jobs(agent).stop()  # the app's cleanup stops it again: harmless


async def test_shutdown_with_a_pull_in_flight_cancels_it_and_changes_nothing(
    make_client: MakeClient, upstream: TestServer, sim: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    await faults(sim, latencyMs=3000)
    agent = await make_client(
        upstream={"url": upstream_url(upstream)}, sync={"start_jitter_s": 0, "pull_interval_s": 1}
    )

    async def in_flight() -> bool:
        response = await sim.get("/sim/stats")
        return bool((await response.json())["faults"].get("latency"))

    await wait_for(in_flight)
    pulling = jobs(agent).in_flight()
    started = time.monotonic()
    await jobs(agent).stop()

    assert time.monotonic() - started < 1.0
    # Ended within 1 s of a 3 s call: cancelled, not left to finish after the agent stopped.
    assert pulling and all(task.done() for task in pulling)
    st = await status(agent)
    assert st["bundle"]["version"] == "demo-1" and st["sync"]["lastPull"] == {}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_reaching_the_upstream_after_a_failed_pull_drains_at_once(
    make_client: MakeClient, upstream: TestServer, sim: TestClient
) -> None:
    agent = await make_client(upstream={"url": upstream_url(upstream)}, sync=QUIET)
    jobs(agent).pause()
    await faults(sim, outage=True)
    assert (await admin_sync(agent))["pull"]["outcome"] == "error"
    await faults(sim)

    report = await jobs(agent).pull(force=True)

    assert report is not None and report.outcome == "full"
    assert jobs(agent).state.counters["upstream_back"] == 1
    assert (await jobs(agent).pull(force=True)) is not None
    assert jobs(agent).state.counters["upstream_back"] == 1  # only on the way back


async def test_a_probe_notices_the_upstream_back_long_before_the_stretched_pull(
    make_client: MakeClient, upstream: TestServer, sim: TestClient, clock: ManualClock
) -> None:
    agent = await make_client(upstream={"url": upstream_url(upstream)}, sync=QUIET)
    jobs(agent).pause()
    await faults(sim, outage=True, retryAfter=3600)  # keeps the next pull an hour away
    assert (await admin_sync(agent))["pull"]["outcome"] == "error"
    counters = jobs(agent).state.counters

    assert await jobs(agent).pull_tick() is None  # down: the first probe is one interval away
    assert counters["attempt:probe:down"] == counters["attempt:probe:up"] == 0
    clock.advance(75)
    assert await jobs(agent).pull_tick() is None
    assert counters["attempt:probe:down"] == 1 and counters["upstream_back"] == 0

    await faults(sim)
    clock.advance(75)
    assert await jobs(agent).pull_tick() is None
    assert counters["attempt:probe:up"] == 1 and counters["upstream_back"] == 1
    report = await jobs(agent).pull_tick()  # the pull was made due
    assert report is not None and report.outcome == "full"


async def test_admin_sync_ignores_retry_after(
    make_client: MakeClient, upstream: TestServer, sim: TestClient, clock: ManualClock
) -> None:
    agent = await make_client(upstream={"url": upstream_url(upstream)}, sync=QUIET)
    await faults(sim, outage=True, retryAfter=3600)
    await admin_sync(agent)
    await faults(sim)
    clock.advance(60)
    assert await jobs(agent).pull() is None  # the schedule still waits

    body = await admin_sync(agent)

    assert body["ok"] is True and body["pull"]["outcome"] == "full"
    assert "push" in body and body["sync"]["state"] == "online"
    assert body["sync"]["lastPull"]["version"] == "v1"


async def test_admin_sync_needs_the_admin_token(make_client: MakeClient, upstream: TestServer) -> None:
    agent = await make_client(
        upstream={"url": upstream_url(upstream)}, server={"admin_token": "adm"}, sync=QUIET
    )
    refused = await agent.post("/admin/sync", json={})
    assert refused.status == 403
    assert (await status(agent, Authorization="Bearer adm"))["bundle"]["version"] == "demo-1"

    body = await admin_sync(agent, Authorization="Bearer adm")

    assert body["pull"]["outcome"] == "full"


async def test_without_an_upstream_the_agent_runs_offline_and_says_so(client: TestClient) -> None:
    st = (await status(client))["sync"]
    assert st["state"] == "offline" and st["configured"] is False and st["upstream"] is None
    assert "no upstream configured" in st["note"]
    assert jobs(client).puller is None

    response = await client.post("/admin/sync", json={})
    assert response.status == 409
    assert (await response.json())["errors"] == ["no upstream configured (upstream.url): running offline"]
    with pytest.raises(UpstreamNotConfigured):
        await jobs(client).sync_now()
    assert await jobs(client).pull_tick() is None


async def test_the_status_page_shows_the_last_pull_and_the_next(
    make_client: MakeClient, upstream: TestServer, clock: ManualClock
) -> None:
    agent = await make_client(upstream={"url": upstream_url(upstream)}, sync=QUIET)
    assert "<td id='last-pull'>not yet</td>" in await (await agent.get("/")).text()
    await admin_sync(agent)
    page = await (await agent.get("/")).text()
    assert "<td id='last-pull'>full v1, <time datetime='2026-09-21T14:13:20Z'>" in page
    next_pull = (await status(agent))["sync"]["nextPullAt"]
    assert next_pull > clock.now()
    assert f"<td id='next-pull'><time datetime='{rfc3339(next_pull)[:19]}Z'>" in page
    assert "<td id='next-retry'>none pending</td>" in page


async def test_a_push_that_sends_nothing_counts_as_skipped_not_ok(
    client: TestClient, make_client: MakeClient, upstream: TestServer
) -> None:
    offline = jobs(client)
    offline.pause()
    await offline.push()
    await offline.push()
    assert offline.state.counters["attempt:push:skipped"] == 2
    assert offline.state.counters["attempt:push:ok"] == 0

    agent = await make_client(upstream={"url": upstream_url(upstream)}, sync={"start_jitter_s": 0})
    online = jobs(agent)
    online.pause()
    await online.push()  # an empty queue: nothing to send
    response = await agent.post("/event", json=envelope(data=[{"type": "cart"}]))
    assert response.status == 200
    await online.push()
    assert online.state.counters["attempt:push:skipped"] == 1
    assert online.state.counters["attempt:push:ok"] == 1


async def test_a_slow_upstream_never_piles_up_the_jobs(
    make_client: MakeClient, upstream: TestServer, sim: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Every call takes 0.8 s, the push runs every 0.1 s and the pull ticks every 0.05 s: the jobs'
    bodies outlast their intervals many times over, yet none runs twice at once and APScheduler never
    reports a run skipped."""
    await faults(sim, latencyMs=800)
    caplog.set_level(logging.INFO, logger="apscheduler")
    agent = await make_client(
        upstream={"url": upstream_url(upstream)},
        sync={"start_jitter_s": 0, "push_interval_s": 0.1, "pull_interval_s": 1},
    )
    for n in range(3):
        response = await agent.post("/event", json=envelope(data=[{"type": "cart", "n": n}]))
        assert response.status == 200

    async def delivered() -> bool:
        return (await status(agent))["sync"]["counters"].get("delivered", 0) == 3

    await wait_for(delivered, within=10)
    await asyncio.sleep(1.0)  # a few more slow pulls and drains
    await jobs(agent).stop()

    skipped = [
        r.getMessage() for r in caplog.records if "maximum number of running instances" in r.getMessage()
    ]
    assert skipped == []
    assert not [
        r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("apscheduler")
    ]
    agents = (await (await sim.get("/sim/stats")).json())["agents"]
    # each event sent once: no drain overlapped another
    assert [(a["unique"], a["duplicates"]) for a in agents.values()] == [(3, 0)]


async def received_ids(sim: TestClient) -> set[str]:
    items = (await (await sim.get("/sim/received")).json())["items"]
    return {item["id"] for item in items}


async def queue_events(agent: TestClient, count: int) -> None:
    for i in range(count):
        response = await agent.post("/event", json=envelope(data=[{"type": "cart", "name": f"c{i}"}]))
        assert response.status == 200


async def test_admin_sync_drains_the_queue_to_the_upstream(
    make_client: MakeClient, upstream: TestServer, sim: TestClient, db: Path
) -> None:
    agent = await make_client(upstream={"url": upstream_url(upstream)}, sync=QUIET)
    await queue_events(agent, 3)
    pending = {r["id"] for r in db_rows(db, "SELECT id FROM outbox WHERE state = 'pending'")}

    body = await admin_sync(agent)

    assert body["push"] and "skipped" not in body["push"]
    assert pending <= await received_ids(sim)
    assert not db_rows(db, "SELECT id FROM outbox WHERE state = 'pending'")


async def test_the_upstream_coming_back_drains_at_once(
    make_client: MakeClient, upstream: TestServer, sim: TestClient, db: Path
) -> None:
    agent = await make_client(upstream={"url": upstream_url(upstream)}, sync=QUIET)
    agent.app[sync_jobs_key].pause()
    assert (await sim.post("/sim/faults", json={"outage": True})).status == 200
    assert (await admin_sync(agent))["pull"]["outcome"] == "error"
    await queue_events(agent, 2)
    assert (await sim.post("/sim/faults", json={})).status == 200

    await agent.app[sync_jobs_key].pull(force=True)  # reaches the upstream again

    assert len(await received_ids(sim)) == 2


async def test_a_push_the_upstream_takes_nothing_from_counts_as_failed_not_ok(
    make_client: MakeClient, db: Path
) -> None:
    agent = await make_client(upstream={"url": f"http://127.0.0.1:{free_port()}"}, sync={"start_jitter_s": 0})
    down = jobs(agent)
    down.pause()
    response = await agent.post("/event", json=envelope(data=[{"type": "cart"}]))
    assert response.status == 200
    await down.push(force=True)  # nothing listens on that port: the call fails, the row stays queued
    assert down.state.counters["attempt:push:failed"] == 1
    assert down.state.counters["attempt:push:ok"] == 0
    assert [r["state"] for r in db_rows(db, "SELECT state FROM outbox")] == ["pending"]
