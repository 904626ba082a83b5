"""Queue operations and push results through the CLI and the admin route, against the reference upstream:
list, retry, purge, export/import round trips, ``/admin/sync`` drains, and the drain when the upstream
comes back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner, Result

from edge_agent.agent.keys import sync_jobs_key
from edge_agent.cli import main
from tests.conftest import MakeClient
from tests.helpers import db_rows, envelope
from tests.sync.pull_support import admin_sync, marker_bundle, serve_upstream, upstream_url, write_version
from tests.test_cli_queue import mark, seed_queue

QUIET = {"start_jitter_s": 3600, "push_interval_s": 3600}


def run(*args: str | Path, input: str | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def queue_ids(db: Path, *extra: str) -> list[str]:
    result = run("queue", "list", "--db", db, "--json", *extra)
    assert result.exit_code == 0, result.output
    return [row["id"] for row in json.loads(result.output)]


def states(db: Path) -> dict[str, str]:
    return {r["id"]: r["state"] for r in db_rows(db, "SELECT id, state FROM outbox")}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "agent.db"


def test_queue_list_shows_rows_oldest_first_by_state(db: Path) -> None:
    ids = seed_queue(db, 3)
    mark(db, ids[1], "dead")
    assert queue_ids(db) == ids
    assert queue_ids(db, "--state", "pending") == [ids[0], ids[2]]
    assert queue_ids(db, "--state", "dead") == [ids[1]]


def test_queue_retry_moves_dead_rows_back_to_pending(db: Path) -> None:
    ids = seed_queue(db, 3)
    for row_id in ids:
        mark(db, row_id, "dead")

    one = run("queue", "retry", ids[0], "--db", db, "--json")
    assert one.exit_code == 0 and json.loads(one.output) == {"retried": 1}
    assert states(db) == {ids[0]: "pending", ids[1]: "dead", ids[2]: "dead"}

    rest = run("queue", "retry", "--all", "--db", db, "--json")
    assert json.loads(rest.output) == {"retried": 2}
    assert set(states(db).values()) == {"pending"}


def test_queue_purge_deletes_by_state_and_asks_before_pending(db: Path) -> None:
    ids = seed_queue(db, 3)
    mark(db, ids[0], "dead")

    purged = run("queue", "purge", "--state", "dead", "--db", db, "--json")
    assert purged.exit_code == 0 and json.loads(purged.output) == {"purged": 1}
    assert set(states(db)) == {ids[1], ids[2]}

    refused = run("queue", "purge", "--state", "pending", "--db", db, input="n\n")
    assert refused.exit_code == 1 and set(states(db)) == {ids[1], ids[2]}
    assert run("queue", "purge", "--state", "pending", "--yes", "--db", db).exit_code == 0
    assert states(db) == {}


def test_export_then_import_keeps_the_row_ids(db: Path, tmp_path: Path) -> None:
    ids = seed_queue(db, 5)
    mark(db, ids[4], "dead")  # only pending rows travel
    carried = tmp_path / "usb" / "queue.jsonl"
    carried.parent.mkdir()

    exported = run("queue", "export", carried, "--db", db, "--json")
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.output.splitlines()[-1])["exported"] == 4
    lines = [json.loads(line) for line in carried.read_text().splitlines()]
    assert [line["id"] for line in lines[1:]] == ids[:4]  # line 1 names the format

    other = tmp_path / "other.db"
    imported = run("queue", "import", carried, "--db", other, "--json")
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.output.splitlines()[-1]) == {"imported": 4, "skipped": 0}
    assert queue_ids(other, "--state", "pending") == ids[:4]

    again = run("queue", "import", carried, "--db", other, "--json")
    assert json.loads(again.output.splitlines()[-1]) == {"imported": 0, "skipped": 4}


def test_a_bad_import_file_imports_nothing(db: Path, tmp_path: Path) -> None:
    ids = seed_queue(db, 2)
    carried = tmp_path / "queue.jsonl"
    assert run("queue", "export", carried, "--db", db).exit_code == 0
    carried.write_text(carried.read_text() + '{"id": "broken"}\n')
    other = tmp_path / "other.db"

    result = run("queue", "import", carried, "--db", other)

    assert result.exit_code == 1 and "line 4" in result.output and "nothing imported" in result.output
    assert queue_ids(other) == [] and len(ids) == 2


@pytest.fixture
async def upstream(aiohttp_server: Any, tmp_path: Path, demo_bundle: dict[str, Any]) -> TestServer:
    write_version(tmp_path / "sim", "0001-v1.json", marker_bundle(demo_bundle, "v1"))
    return await serve_upstream(aiohttp_server, tmp_path / "sim")


@pytest.fixture
async def sim(aiohttp_client: Any, upstream: TestServer) -> TestClient:
    client: TestClient = await aiohttp_client(upstream)
    return client


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


async def test_sync_command_drains_without_a_daemon(upstream: TestServer, sim: TestClient, db: Path) -> None:
    ids = await asyncio.to_thread(seed_queue, db, 4)  # queued by a daemon that is not running now

    result = await asyncio.to_thread(run, "sync", "--db", db, "--upstream", upstream_url(upstream), "--json")

    assert result.exit_code == 0, result.output
    assert await received_ids(sim) == set(ids)
    status = await asyncio.to_thread(run, "queue", "status", "--db", db, "--json")
    summary = json.loads(status.output)
    assert summary["pending"] == 0 and summary["delivered"] == 4
