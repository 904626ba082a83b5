"""Fixtures that build the real thing: settings on a temp SQLite file, the real app, a manual clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from edge_agent.clock import ManualClock
from edge_agent.config.settings import Settings, load_settings

FIXTURES = Path(__file__).parent / "fixtures"
DEMO_BUNDLE_PATH = FIXTURES / "bundle-demo.json"

MakeClient = Callable[..., Awaitable[TestClient]]


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture
def demo_bundle() -> dict[str, Any]:
    return json.loads(DEMO_BUNDLE_PATH.read_text())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_790_000_000.0)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {"storage": {"path": tmp_path / "agent.db"}}
        return load_settings(overrides=deep_merge(base, overrides))

    return make


@pytest.fixture
def make_client(
    aiohttp_client: Any, tmp_path: Path, clock: ManualClock, make_settings: Callable[..., Settings]
) -> MakeClient:
    """``await make_client(bundle=dict|None, listen=address|None, **settings_overrides)`` → a TestClient on
    the real app, its server bound to ``listen`` (default loopback)."""
    from edge_agent.agent.app import create_app

    async def make(
        bundle: dict[str, Any] | None = None, listen: str | None = None, **overrides: Any
    ) -> TestClient:
        if bundle is not None:
            path = tmp_path / f"bundle-{bundle.get('version', 'x')}.json"
            path.write_text(json.dumps(bundle))
            overrides = deep_merge(overrides, {"bundle": {"path": path}})
        # Loading settings may read files (TOML, time zones): off the loop, like the daemon does at start.
        settings = await asyncio.to_thread(make_settings, **overrides)
        app = create_app(settings, clock=clock)
        client: TestClient = await aiohttp_client(app, server_kwargs={"host": listen} if listen else None)
        return client

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient:
    """The agent on the packaged demo bundle."""
    return await make_client()
