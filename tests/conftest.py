"""Fixtures that build the real thing: settings on a temp SQLite file, the real app, a manual clock, and
the reference upstream served on loopback (the one way every test starts it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Middleware

from edge_agent.clock import ManualClock
from edge_agent.config.settings import Settings, load_settings

FIXTURES = Path(__file__).parent / "fixtures"
DEMO_BUNDLE_PATH = FIXTURES / "bundle-demo.json"

MakeClient = Callable[..., Awaitable[TestClient]]
MakeSim = Callable[..., Awaitable[TestClient]]


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


# -- the reference upstream ------------------------------------------------------------------------


@pytest.fixture
def sim_dir(tmp_path: Path) -> Path:
    """The reference upstream's state directory: its ``upstream.db`` and ``bundles/``."""
    return tmp_path / "sim"


def write_version(sim_dir: Path, name: str, bundle: dict[str, Any]) -> None:
    """Put a bundle version file in the upstream's ``bundles/`` (read when it answers a pull)."""
    directory = sim_dir / "bundles"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(json.dumps(bundle))


@pytest.fixture
def make_sim(aiohttp_client: Any, sim_dir: Path) -> MakeSim:
    """``await make_sim(keys=…, faults=…, clock=…, rate=…, middlewares=[…])``: the reference upstream on
    ``sim_dir``, served on loopback; a TestClient whose ``.server`` is the served TestServer.
    ``middlewares`` run outside its own (test-only observation or tweaks). Calling it twice serves the
    same directory again, as after a restart."""
    from edge_agent.upstream_sim import create_upstream_app

    async def make(*, middlewares: list[Middleware] | tuple[()] = (), **options: Any) -> TestClient:
        app = create_upstream_app(sim_dir, **options)
        for middleware in middlewares:
            app.middlewares.insert(0, middleware)
        client: TestClient = await aiohttp_client(app)
        return client

    return make


@pytest.fixture
def upstream_bundles() -> dict[str, dict[str, Any]]:
    """Bundle files (name → bundle) the upstream starts with; a module overrides it to serve versions."""
    return {}


@pytest.fixture
def upstream_middlewares() -> list[Middleware]:
    """Middlewares the upstream is served with; a module overrides it (e.g. to record requests)."""
    return []


@pytest.fixture
async def sim(
    make_sim: MakeSim,
    sim_dir: Path,
    upstream_bundles: dict[str, dict[str, Any]],
    upstream_middlewares: list[Middleware],
) -> TestClient:
    """The reference upstream with no faults, no keys, the system clock, ``upstream_bundles`` and
    ``upstream_middlewares``: a client for its ``/sim/*`` control API."""
    for name, bundle in upstream_bundles.items():
        write_version(sim_dir, name, bundle)
    return await make_sim(middlewares=upstream_middlewares)


@pytest.fixture
def upstream(sim: TestClient) -> TestServer:
    """The served ``sim`` (``upstream_url(upstream)`` is what an agent's ``upstream.url`` points at)."""
    server: TestServer = sim.server
    return server


def upstream_url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")
