"""Push and pull share one upstream client: the same auth per sec, the same Retry-After table, the same
status classification, shown against a real aiohttp upstream on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from edge_agent.clock import ManualClock
from edge_agent.config.settings import Settings
from edge_agent.storage.bundles import load_stored_bundle
from edge_agent.storage.outbox import ready_rows
from edge_agent.sync.client import UpstreamClient, create_session
from edge_agent.sync.pull import Puller
from edge_agent.sync.state import SyncState
from tests.sync.conftest import ingest, open_db


@pytest.fixture
def answers() -> dict[str, Any]:
    """What the upstream answers: ``status`` and ``retry_after`` (None = no header); ``seen`` records
    each call's path and Authorization."""
    return {"status": 503, "retry_after": None, "seen": []}


@pytest.fixture
async def scripted(aiohttp_server: Any, answers: dict[str, Any]) -> TestServer:
    """An upstream that answers every call with ``answers`` (status, Retry-After text), not the reference
    upstream: these tests need Retry-After values it never sends (``1.5``, HTTP dates)."""

    async def handler(request: web.Request) -> web.Response:
        answers["seen"].append((request.method, request.path, request.headers.get("Authorization")))
        headers = {"Retry-After": answers["retry_after"]} if answers["retry_after"] is not None else {}
        return web.json_response({"ok": False}, status=answers["status"], headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server: TestServer = await aiohttp_server(app)
    return server


PushAndPull = Callable[[Settings], Awaitable[tuple[float | None, float | None, float | None]]]


@pytest.fixture
def push_and_pull(clock: ManualClock, tmp_path: Path) -> PushAndPull:
    """``await push_and_pull(settings)``: one push replay, one bundle GET and one Puller pull, each
    through the one client; returns the Retry-After each saw."""

    async def run(settings: Settings) -> tuple[float | None, float | None, float | None]:
        return await _push_and_pull(settings, clock, tmp_path)

    return run


async def _push_and_pull(
    settings: Settings, clock: ManualClock, tmp_path: Path
) -> tuple[float | None, float | None, float | None]:
    db = await open_db(tmp_path / "agent.db")
    try:
        await ingest(db, clock, 1, profiles=1, sec="kiosk")
        row = (await db.read(lambda c: ready_rows(c, now=clock.now(), limit=1, ignore_timers=True)))[0]
        async with create_session(settings) as session:
            client = UpstreamClient(session, settings, clock=clock)
            pushed = await client.replay(row)
            pulled = await client.get_bundle(None, None)

            async def install(doc: dict[str, Any], source: str, etag: str | None) -> object:
                raise AssertionError("nothing to install")

            puller = Puller(db, client, settings, clock, SyncState(), install)
            report = await puller.pull(force=True)
            assert report is not None and report.outcome == "error"
            assert await db.read(load_stored_bundle) is None
        return pushed.retry_after, pulled.retry_after, report.retry_after
    finally:
        await asyncio.to_thread(db.close)


@pytest.mark.parametrize(("header", "seconds"), [("86400", 3600.0), ("1.5", 1.5), ("0", 0.0), ("soon", None)])
async def test_one_retry_after_table_for_push_and_pull(
    scripted: TestServer,
    answers: dict[str, Any],
    make_settings: Callable[..., Settings],
    push_and_pull: PushAndPull,
    header: str,
    seconds: float | None,
) -> None:
    answers["retry_after"] = header
    settings = make_settings(upstream={"url": str(scripted.make_url("/"))})
    assert await push_and_pull(settings) == (seconds, seconds, seconds)


@pytest.mark.parametrize(
    ("keys", "auth", "bearer"),
    [
        ({"section_keys": {"kiosk": "k-kiosk"}}, {"sections": ["kiosk"]}, "Bearer k-kiosk"),
        # No one sec for the agent: the pull (and a push of a sec without a key) uses upstream.api_key.
        ({"api_key": "k-all", "section_keys": {"a": "ka", "b": "kb"}}, {}, "Bearer k-all"),
    ],
)
async def test_section_keys_apply_to_pulls_like_pushes(
    scripted: TestServer,
    answers: dict[str, Any],
    make_settings: Callable[..., Settings],
    push_and_pull: PushAndPull,
    keys: dict[str, Any],
    auth: dict[str, Any],
    bearer: str,
) -> None:
    settings = make_settings(upstream={"url": str(scripted.make_url("/v2")), **keys}, auth=auth)
    await push_and_pull(settings)
    assert answers["seen"] == [
        ("POST", "/v2/event", bearer),
        ("GET", "/v2/edge/v1/bundle", bearer),
        ("GET", "/v2/edge/v1/bundle", bearer),
    ]
