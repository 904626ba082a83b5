"""Fixtures of the sync tests: the reference upstream served on loopback, and a guard that fails any test
in which edge-agent code makes a blocking call (SQLite, file I/O, sleep) on the event loop."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from blockbuster import BlockBuster, blockbuster_ctx

from edge_agent.sync.simulator import create_upstream_app

MakeSim = Callable[..., Awaitable[TestClient]]


@pytest.fixture(autouse=True)
def no_blocking_on_the_loop() -> Iterator[BlockBuster]:
    """Any SQLite or file call made by ``edge_agent`` code on the event loop fails the test."""
    with blockbuster_ctx("edge_agent") as bb:
        yield bb


@pytest.fixture
def make_sim(aiohttp_client: Any, tmp_path: Path) -> MakeSim:
    """``await make_sim(keys=…, faults=…, clock=…)``: the reference upstream on ``tmp_path`` (its
    ``upstream.db`` and ``bundles/``), served on loopback. Calling it twice serves the same directory
    again, as after a restart."""

    async def make(**options: Any) -> TestClient:
        client: TestClient = await aiohttp_client(create_upstream_app(tmp_path, **options))
        return client

    return make


@pytest.fixture
def upstream_bundles() -> dict[str, dict[str, Any]]:
    """Bundle files (name → bundle) written to ``tmp_path/bundles`` before ``sim`` starts; override it
    in a test module to start the upstream with versions."""
    return {}


@pytest.fixture
async def sim(make_sim: MakeSim, tmp_path: Path, upstream_bundles: dict[str, dict[str, Any]]) -> TestClient:
    """The reference upstream with no faults, no keys, the system clock and ``upstream_bundles``."""
    for name, bundle in upstream_bundles.items():
        directory = tmp_path / "bundles"
        directory.mkdir(exist_ok=True)
        (directory / name).write_text(json.dumps(bundle))
    return await make_sim()
