"""``create_app(settings)``: the only composition root.

Cleanup contexts, in dependency order: storage (open + migrate), bundle (load at start), the upstream
``ClientSession`` (only with ``upstream.url``), the sync scheduler (``agent/scheduler.py``). The SDK routes
are served at the root and under ``/v2``, with duplicate slashes collapsed (a ``proxyUrl`` ending in
``/`` yields ``//choose``): one catch-all resource normalizes the path and dispatches.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from edge_agent.agent.bundles import BundleHolder, load_initial_bundle
from edge_agent.agent.decide.facts import device_info
from edge_agent.agent.keys import (
    bundle_key,
    clock_key,
    db_key,
    metrics_key,
    route_key,
    services_key,
    settings_key,
    started_at_key,
    sync_jobs_key,
    sync_state_key,
)
from edge_agent.agent.metrics import Metrics
from edge_agent.agent.middleware import auth_middleware, errors_middleware, metrics_middleware
from edge_agent.agent.openapi import openapi_json
from edge_agent.agent.routes import (
    admin,
    choose,
    engagement,
    event,
    operator,
    page,
    strategy,
    sync,
    user,
    visit,
)
from edge_agent.agent.scheduler import bundle_hooks, scheduler_ctx, upstream_session_ctx
from edge_agent.agent.services import Services
from edge_agent.clock import Clock, SystemClock
from edge_agent.config.settings import Settings
from edge_agent.errors import NotFound
from edge_agent.storage.database import Database
from edge_agent.sync.jobs import SyncJobs
from edge_agent.sync.state import SyncState

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SDK_ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "/visit"): visit.visit,
    ("POST", "/event"): event.event,
    ("POST", "/choose"): choose.choose,
    ("POST", "/user"): user.user,
    ("POST", "/strategy"): strategy.strategy,
    ("GET", "/engagement"): engagement.engagement,
}
_SLASHES = re.compile(r"/{2,}")


def normalize_sdk_path(path: str) -> str:
    path = _SLASHES.sub("/", path)
    if path == "/v2" or path.startswith("/v2/"):
        path = path[3:] or "/"
    return path.rstrip("/") or "/"


async def sdk_dispatch(request: web.Request) -> web.StreamResponse:
    path = normalize_sdk_path(request.path)
    method = "GET" if request.method == "HEAD" else request.method
    handler = SDK_ROUTES.get((method, path))
    request[route_key] = path
    if handler is None:
        if any(p == path for _, p in SDK_ROUTES):
            allowed = sorted(m for m, p in SDK_ROUTES if p == path)
            raise web.HTTPMethodNotAllowed(request.method, allowed)
        raise NotFound(f"path: no route {request.method} {request.path}")
    return await handler(request)


def _operator(handler: Handler, name: str) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        request[route_key] = name
        return await handler(request)

    return wrapped


async def _storage_ctx(app: web.Application) -> AsyncIterator[None]:
    db = app[db_key]
    await asyncio.to_thread(db.open)
    yield
    await asyncio.to_thread(db.close)


async def _bundle_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    await load_initial_bundle(app[bundle_key], app[db_key], settings.bundle.path, app[clock_key])
    # The user-agent parser loads its rules on first use (~120 ms): pay that at start, not on a request.
    await asyncio.to_thread(device_info, "edge-agent warm-up")
    yield


def create_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    clock = clock or SystemClock()
    app = web.Application(
        middlewares=[errors_middleware, metrics_middleware, auth_middleware],
        client_max_size=settings.server.max_body_bytes,
    )
    db = Database(
        settings.storage.path,
        synchronous=settings.storage.synchronous,
        busy_timeout_ms=settings.storage.busy_timeout_ms,
        group_commit_max=settings.storage.group_commit_max,
        checkpoint_interval_s=settings.storage.checkpoint_interval_s,
    )
    bundles = BundleHolder()
    sync_state = SyncState(configured=settings.upstream.url is not None, state_since=clock.now())
    app[settings_key] = settings
    app[clock_key] = clock
    app[db_key] = db
    app[bundle_key] = bundles
    app[sync_state_key] = sync_state
    app[sync_jobs_key] = SyncJobs(db, settings, clock, sync_state, bundle_hooks(bundles, db, clock))
    app[metrics_key] = Metrics(sync_state)
    app[services_key] = Services(settings, db, bundles, clock)
    app[started_at_key] = time.monotonic()
    app.cleanup_ctx.append(_storage_ctx)
    app.cleanup_ctx.append(_bundle_ctx)
    if settings.upstream.url is not None:
        app.cleanup_ctx.append(upstream_session_ctx)
    app.cleanup_ctx.append(scheduler_ctx)

    app.router.add_get("/healthz", _operator(admin.healthz, "/healthz"))
    app.router.add_get("/readyz", _operator(admin.readyz, "/readyz"))
    app.router.add_get("/status", _operator(admin.status, "/status"))
    app.router.add_get("/metrics", _operator(admin.metrics, "/metrics"))
    app.router.add_get("/openapi.json", _operator(openapi_json, "/openapi.json"))
    app.router.add_post("/admin/sync", _operator(sync.sync_now, "/admin/sync"))
    app.router.add_post("/admin/sync/resume", _operator(operator.sync_resume, "/admin/sync/resume"))
    app.router.add_get("/admin/queue", _operator(operator.queue, "/admin/queue"))
    app.router.add_post("/admin/queue/retry", _operator(operator.queue_retry, "/admin/queue/retry"))
    app.router.add_post("/admin/queue/purge", _operator(operator.queue_purge, "/admin/queue/purge"))
    app.router.add_post("/admin/bundle", _operator(operator.bundle_load, "/admin/bundle"))
    app.router.add_get("/", _operator(page.index, "/"))
    app.router.add_route("*", "/{tail:.*}", sdk_dispatch)
    return app
