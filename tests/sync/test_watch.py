"""The bundle file watch on the real agent: a changed file is loaded once it is stable, a file still being
written is left alone, an invalid file is logged in full and the active bundle keeps serving."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from edge_agent.agent.app import create_app
from edge_agent.agent.keys import sync_jobs_key
from edge_agent.clock import ManualClock
from edge_agent.config.settings import Settings
from edge_agent.sync.jobs import SyncJobs
from tests.sync.pull_support import marker_bundle, marker_text, status


@pytest.fixture
def rules(tmp_path: Path, demo_bundle: dict[str, Any]) -> Path:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(marker_bundle(demo_bundle, "v1")))
    return path


def rewrite(path: Path, data: bytes, *, append: bool = False) -> None:
    """Write and move the mtime forward, so two writes within one timestamp tick still differ."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    with path.open("ab" if append else "wb") as f:
        f.write(data)
    os.utime(path, ns=(before + 10**9, before + 10**9))


@pytest.fixture
def start_agent(
    aiohttp_client: Any, make_settings: Callable[..., Settings], clock: ManualClock
) -> Callable[..., Awaitable[TestClient]]:
    async def start(**bundle_settings: Any) -> TestClient:
        # make_client's ``bundle=`` is a bundle document; the watch needs the bundle *settings*.
        settings = make_settings(bundle=bundle_settings)
        client: TestClient = await aiohttp_client(create_app(settings, clock=clock))
        client.app[sync_jobs_key].pause()
        return client

    return start


@pytest.fixture
async def agent(start_agent: Callable[..., Awaitable[TestClient]], rules: Path) -> TestClient:
    return await start_agent(path=rules, watch=True, watch_interval_s=60)


def jobs(agent: TestClient) -> SyncJobs:
    return agent.app[sync_jobs_key]


async def test_a_changed_file_is_loaded_once_it_looked_the_same_twice(
    agent: TestClient, rules: Path, demo_bundle: dict[str, Any]
) -> None:
    assert await jobs(agent).watch_file() is None  # unchanged since start
    rewrite(rules, json.dumps(marker_bundle(demo_bundle, "v2", "the second")).encode())

    assert await jobs(agent).watch_file() is None  # changed since the last look: wait one more
    assert await marker_text(agent) == "from v1"
    assert await jobs(agent).watch_file() == "loaded"

    assert await marker_text(agent) == "the second"
    st = await status(agent)
    assert st["bundle"]["version"] == "v2" and st["bundle"]["source"] == f"file:{rules}"
    assert st["sync"]["lastWatch"]["outcome"] == "loaded" and st["sync"]["lastWatch"]["version"] == "v2"
    assert await jobs(agent).watch_file() is None  # handled: not loaded again


async def test_a_file_still_being_written_is_left_alone(
    agent: TestClient, rules: Path, demo_bundle: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    data = json.dumps(marker_bundle(demo_bundle, "v2", "copied")).encode()
    third = len(data) // 3
    outcomes = []
    rewrite(rules, data[:third])
    outcomes.append(await jobs(agent).watch_file())
    rewrite(rules, data[third : 2 * third], append=True)
    outcomes.append(await jobs(agent).watch_file())
    rewrite(rules, data[2 * third :], append=True)
    outcomes.append(await jobs(agent).watch_file())
    assert outcomes == [None, None, None]
    assert await marker_text(agent) == "from v1"

    assert await jobs(agent).watch_file() == "loaded"
    assert await marker_text(agent) == "copied"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_invalid_file_logs_every_error_and_keeps_the_active_bundle(
    agent: TestClient, rules: Path, demo_bundle: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    bad = marker_bundle(demo_bundle, "v2-bad")
    bad["campaigns"][0]["experiences"][0]["variations"][0]["weight"] = -1
    bad["campaigns"][2]["priority"] = "high"
    rewrite(rules, json.dumps(bad).encode())
    await jobs(agent).watch_file()

    with caplog.at_level(logging.ERROR, logger="edge_agent.sync.watch"):
        assert await jobs(agent).watch_file() == "rejected"

    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "campaigns.0.experiences.0.variations.0.weight:" in logged
    assert "campaigns.2.priority:" in logged
    assert await marker_text(agent) == "from v1"
    st = await status(agent)
    assert st["bundle"]["version"] == "v1"
    assert st["sync"]["lastWatch"]["outcome"] == "rejected" and len(st["sync"]["lastWatch"]["errors"]) == 2
    caplog.clear()
    assert await jobs(agent).watch_file() is None  # reported once, not on every tick
    assert not caplog.records

    rewrite(rules, json.dumps(marker_bundle(demo_bundle, "v3", "fixed")).encode())
    assert [await jobs(agent).watch_file(), await jobs(agent).watch_file()] == [None, "loaded"]
    assert await marker_text(agent) == "fixed"


async def test_a_removed_file_keeps_the_active_bundle(agent: TestClient, rules: Path) -> None:
    await asyncio.to_thread(rules.unlink)
    assert [await jobs(agent).watch_file(), await jobs(agent).watch_file()] == [None, "missing"]
    assert await marker_text(agent) == "from v1"


async def test_without_watch_the_file_is_not_followed(
    start_agent: Callable[..., Awaitable[TestClient]], rules: Path, demo_bundle: dict[str, Any]
) -> None:
    agent = await start_agent(path=rules)
    rewrite(rules, json.dumps(marker_bundle(demo_bundle, "v2")).encode())
    assert jobs(agent).watch is None
    assert [await jobs(agent).watch_file(), await jobs(agent).watch_file()] == [None, None]
    assert await marker_text(agent) == "from v1"
