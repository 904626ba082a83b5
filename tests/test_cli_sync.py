"""``edge-agent sync`` and ``edge-agent bundle show|load`` on a temp database, against the reference
upstream on loopback, and beside a running agent."""

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
from tests.conftest import MakeClient, upstream_url
from tests.sync.pull_support import marker_bundle, marker_text
from tests.test_cli_queue import seed_queue


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


async def run_beside_the_loop(*args: str | Path) -> Result:
    """The command blocks (SQLite, its own asyncio.run): run it on a thread so the test's servers answer."""
    return await asyncio.to_thread(run, *args)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "agent.db"


@pytest.fixture
def good(tmp_path: Path, demo_bundle: dict[str, Any]) -> Path:
    path = tmp_path / "good.json"
    path.write_text(json.dumps(marker_bundle(demo_bundle, "ops-1", "from the operator")))
    return path.resolve()


def test_bundle_load_stores_a_valid_file_and_show_describes_it(db: Path, good: Path) -> None:
    loaded = run("bundle", "load", good, "--db", db)
    assert loaded.exit_code == 0, loaded.output
    assert "bundle ops-1 stored as current" in loaded.output

    shown = run("bundle", "show", "--db", db, "--json")

    assert shown.exit_code == 0
    info = json.loads(shown.output)
    assert info["version"] == "ops-1" and info["source"] == f"cli:{good}"
    assert info["counts"] == {"segments": 3, "campaigns": 7, "strategies": 5, "catalog": 8}
    assert info["previous"] is None and isinstance(info["loadedAt"], float)
    text = run("bundle", "show", "--db", db)
    assert "version:   ops-1" in text.output and "7 campaigns" in text.output


def test_bundle_load_refuses_a_bad_file_listing_every_problem(
    db: Path, good: Path, tmp_path: Path, demo_bundle: dict[str, Any]
) -> None:
    assert run("bundle", "load", good, "--db", db).exit_code == 0
    bad = marker_bundle(demo_bundle, "ops-2")
    bad["campaigns"][0]["experiences"][0]["variations"][0]["weight"] = -1
    bad["campaigns"][2]["priority"] = "high"
    del bad["strategies"][0]["type"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))

    result = CliRunner().invoke(main, ["bundle", "load", str(path), "--db", str(db)])

    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("bundle error: ")]
    assert len(errors) == 3
    assert any("campaigns.0.experiences.0.variations.0.weight:" in e for e in errors)
    assert any("campaigns.2.priority:" in e for e in errors)
    assert any("strategies.0.type:" in e for e in errors)
    assert json.loads(run("bundle", "show", "--db", db, "--json").output)["version"] == "ops-1"


def test_bundle_load_refuses_a_file_that_is_not_json(db: Path, tmp_path: Path) -> None:
    path = tmp_path / "half.json"
    path.write_text('{"schema": 1, "version": "x", "campaigns": [')
    result = CliRunner().invoke(main, ["bundle", "load", str(path), "--db", str(db)])
    assert result.exit_code == 2
    assert result.output.startswith("bundle error: bundle: not valid JSON")


def test_bundle_show_without_a_database_is_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["bundle", "show", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: no database at")
    assert len(result.output.strip().splitlines()) == 1


async def test_a_running_agent_adopts_a_bundle_loaded_from_the_command_line(
    make_client: MakeClient, db: Path, good: Path
) -> None:
    agent = await make_client()
    jobs = agent.app[sync_jobs_key]
    assert await jobs.check_stored() is None  # nothing new yet

    result = await run_beside_the_loop("bundle", "load", good, "--db", db)
    assert result.exit_code == 0, result.output

    assert await jobs.check_stored() == "ops-1"
    assert await marker_text(agent) == "from the operator"
    assert (await (await agent.get("/status")).json())["bundle"]["source"] == f"cli:{good}"


@pytest.fixture
def upstream_bundles(demo_bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"0001-up-1.json": marker_bundle(demo_bundle, "up-1")}


async def test_sync_pulls_the_bundle_into_the_database_without_a_daemon(
    db: Path, upstream: TestServer
) -> None:
    result = await run_beside_the_loop("sync", "--db", db, "--upstream", upstream_url(upstream), "--json")

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["pull"]["outcome"] == "full" and body["pull"]["version"] == "up-1"
    assert body["sync"]["lastPull"]["outcome"] == "full" and "push" in body
    info = json.loads(run("bundle", "show", "--db", db, "--json").output)
    assert (info["version"], info["source"], info["etag"]) == ("up-1", "upstream", '"up-1"')

    again = await run_beside_the_loop("sync", "--db", db, "--upstream", upstream_url(upstream))
    assert again.exit_code == 0 and "pull: not_modified (version up-1)" in again.output


async def test_sync_exits_1_when_the_pull_is_refused(
    db: Path, upstream: TestServer, aiohttp_client: Any
) -> None:
    sim = await aiohttp_client(upstream)
    assert (await sim.post("/sim/faults", json={"bundleFault": "empty"})).status == 200

    result = await run_beside_the_loop("sync", "--db", db, "--upstream", upstream_url(upstream))

    assert result.exit_code == 1
    assert "pull: rejected" in result.output and "bundle: empty answer (no body)" in result.output


def test_sync_without_an_upstream_is_one_line_error(db: Path) -> None:
    result = CliRunner().invoke(main, ["sync", "--db", str(db)])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: no upstream configured: set upstream.url or pass --upstream URL"


def test_serve_upstream_sets_upstream_url(db: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "--db", str(db), "--upstream", "not a url"])
    assert result.exit_code == 2
    assert result.output.startswith("config error: upstream.url (EDGE_AGENT_UPSTREAM__URL):")


async def test_sync_command_drains_without_a_daemon(upstream: TestServer, sim: TestClient, db: Path) -> None:
    ids = await asyncio.to_thread(seed_queue, db, 4)  # queued by a daemon that is not running now

    result = await run_beside_the_loop("sync", "--db", db, "--upstream", upstream_url(upstream), "--json")

    assert result.exit_code == 0, result.output
    assert {item["id"] for item in (await (await sim.get("/sim/received")).json())["items"]} == set(ids)
    status = await run_beside_the_loop("queue", "status", "--db", db, "--json")
    summary = json.loads(status.output)
    assert summary["pending"] == 0 and summary["delivered"] == 4
