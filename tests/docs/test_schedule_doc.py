"""docs/sync.md's schedule table lists the jobs the daemon really schedules: the scheduler of the real app,
started with an upstream and a watched bundle file (every job on), is asked for its job ids."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from edge_agent.agent.app import create_app
from edge_agent.agent.keys import sync_jobs_key
from edge_agent.config.settings import Settings
from tests.conftest import DEMO_BUNDLE_PATH

ROOT = Path(__file__).resolve().parents[2]
NUMBERS = {3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}


def schedule_section() -> str:
    text = (ROOT / "docs" / "sync.md").read_text()
    match = re.search(r"^## Schedule\n(.*?)^## ", text, re.M | re.S)
    assert match, "docs/sync.md: no '## Schedule' section"
    return match.group(1)


def documented_jobs() -> list[str]:
    return re.findall(r"^\| `([\w-]+)` \|", schedule_section(), re.M)


async def scheduled_jobs(client: TestClient) -> list[str]:
    scheduler = client.app[sync_jobs_key]._scheduler
    assert scheduler is not None, "the sync scheduler did not start"
    return [job.id for job in scheduler.get_jobs()]


async def test_the_schedule_table_is_the_scheduler(
    aiohttp_client: Any, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    bundle = tmp_path / "watched.json"
    bundle.write_bytes(DEMO_BUNDLE_PATH.read_bytes())
    settings = make_settings(
        upstream={"url": "http://127.0.0.1:9/v2"}, bundle={"path": bundle, "watch": True}
    )
    client: TestClient = await aiohttp_client(create_app(settings))

    jobs = await scheduled_jobs(client)

    assert sorted(documented_jobs()) == sorted(jobs), f"docs/sync.md '## Schedule': the jobs are {jobs}"
    assert f"runs {NUMBERS[len(jobs)]} jobs" in schedule_section()
