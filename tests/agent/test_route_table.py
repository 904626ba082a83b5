"""Every route comes from agent/routes/table.py with an access class; one outside it cannot start."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from edge_agent.agent import wire
from edge_agent.agent.app import create_app
from edge_agent.agent.routes import table
from edge_agent.config.settings import Settings
from tests.conftest import MakeClient


def test_every_registered_route_has_a_table_entry_with_an_access_class(
    make_settings: Any,
) -> None:
    app = create_app(make_settings())
    fixed = {(r.method, r.path): r for r in table.FIXED_ROUTES}
    seen = set()
    for aio_route in app.router.routes():
        canonical = aio_route.resource.canonical if aio_route.resource else ""
        if canonical == "/{tail}":
            assert aio_route.method == "*"  # the SDK catch-all; its entries are table.SDK_ROUTES
            continue
        method = "GET" if aio_route.method == "HEAD" else aio_route.method
        entry = fixed[(method, canonical)]
        assert aio_route.handler is entry.handler
        seen.add((method, canonical))
    assert seen == set(fixed)  # and every table entry is registered
    for entry in table.ROUTES:
        assert entry.access in get_args(table.Access), entry


def test_a_route_cannot_be_built_without_an_access_class() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    with pytest.raises(TypeError):
        table.Route("GET", "/admin/new", handler)  # type: ignore[call-arg]


async def test_a_route_added_outside_the_table_stops_the_start(make_settings: Any) -> None:
    settings: Settings = make_settings()
    app = create_app(settings)

    async def backdoor(request: web.Request) -> web.Response:
        return web.Response(text="open")

    app.router.add_get("/admin/backdoor", backdoor)
    server = TestServer(app)
    with pytest.raises(RuntimeError, match="/admin/backdoor"):
        await server.start_server()
    await server.close()


async def test_access_follows_the_entry_not_the_path(make_client: MakeClient) -> None:
    client = await make_client(auth={"api_keys": ["sdk-key"]}, server={"admin_token": "admin-secret"})
    # Probes are open; SDK routes at /, /v2 and with doubled slashes need the SDK key; operator routes
    # need the admin token, and an SDK key does not open them.
    assert (await client.get("/healthz")).status == 200
    for path in ("/engagement", "/v2/engagement", "/v2//engagement"):
        assert (await client.get(path)).status == 403, path
    sdk = {"Authorization": "Bearer sdk-key"}
    assert (await client.get("/v2//engagement?u=x", headers=sdk)).status != 403
    assert (await client.get("/admin/queue", headers=sdk)).status == 403
    assert (await client.get("/admin/queue", headers={"Authorization": "Bearer admin-secret"})).status == 200


def test_every_sdk_body_route_carries_its_spec_and_model() -> None:
    for entry in table.SDK_ROUTES:
        if entry.method != "POST":
            assert entry.sdk is None  # the engagement GET has no body and no profile write
            continue
        assert entry.sdk is not None, entry
        assert entry.sdk.spec.path == entry.path
        assert issubclass(entry.sdk.model, wire.Envelope)
    specs = {entry.path: entry.sdk.spec for entry in table.SDK_ROUTES if entry.sdk is not None}
    # What the routes mean, in one place: replay, caps, assignments and triggers.
    assert {p for p, s in specs.items() if s.may_replay} == {"/visit", "/event", "/user"}
    assert {p for p, s in specs.items() if s.capped} == {"/visit", "/event", "/choose"}
    assert {p for p, s in specs.items() if s.assignments} == {"/choose"}
    assert {p: s.trigger for p, s in specs.items() if s.trigger} == {"/visit": "PAGELOAD", "/event": "EVENT"}
