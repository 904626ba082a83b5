"""``create_app(settings)``: the only composition root.

Cleanup contexts, in dependency order: storage (open + migrate), bundle (load at start), the activity
sampler (``agent/activity_sampler.py``), the upstream ``ClientSession`` (only with ``upstream.url``), the
sync jobs (``agent/sync_wiring.py``). Every route comes
from ``agent/routes/table.py``; the SDK routes are served at the root and under ``/v2``, with duplicate
slashes collapsed (a ``proxyUrl`` ending in ``/`` yields ``//choose``): one catch-all resource normalizes
the path and dispatches.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web

from edge_agent.agent import cross_site
from edge_agent.agent.access import AccessPolicy
from edge_agent.agent.activity import Activity
from edge_agent.agent.activity_sampler import sampler_ctx
from edge_agent.agent.bundles import BundleHolder
from edge_agent.agent.decide.facts import device_info
from edge_agent.agent.keys import (
    activity_key,
    bundle_key,
    clock_key,
    db_key,
    metrics_key,
    services_key,
    settings_key,
    started_at_key,
    sync_jobs_key,
    sync_state_key,
)
from edge_agent.agent.maintenance import add_maintenance
from edge_agent.agent.metrics import Metrics
from edge_agent.agent.observe import Observer
from edge_agent.agent.pipeline import request_pipeline
from edge_agent.agent.routes import table
from edge_agent.agent.services import Services
from edge_agent.agent.storage_health import load_bundle, storage_ctx
from edge_agent.agent.sync_wiring import bundle_hooks, scheduler_ctx, upstream_session_ctx
from edge_agent.clock import Clock, SystemClock
from edge_agent.config.settings import Settings
from edge_agent.errors import NotFound
from edge_agent.storage.database import Database
from edge_agent.sync.jobs import SyncJobs
from edge_agent.sync.state import SyncState

log = logging.getLogger(__name__)


async def sdk_dispatch(request: web.Request) -> web.StreamResponse:
    route = table.matched(request)
    if route is None:
        # The catch-all also receives a fixed route's path asked with another method (POST /status).
        allowed = sorted({r.method for r in table.at_path(request.path)})
        if allowed:
            raise web.HTTPMethodNotAllowed(request.method, allowed)
        raise NotFound(f"path: no route {request.method} {request.path}")
    return await route.handler(request)


async def _check_routes(app: web.Application) -> None:
    table.check_router(app.router)  # a route added after create_app would have no access class


async def _bundle_ctx(app: web.Application) -> AsyncIterator[None]:
    if app[db_key].is_open:  # else storage_ctx loads it once the storage opens
        await load_bundle(app)
    # The user-agent parser loads its rules on first use (~120 ms): pay that at start, not on a request.
    await asyncio.to_thread(device_info, "edge-agent warm-up")
    yield


def create_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    clock = clock or SystemClock()
    sync_state = SyncState(configured=settings.upstream.url is not None, state_since=clock.now())
    metrics, activity = Metrics(sync_state), Activity(clock)
    pipeline = request_pipeline(
        AccessPolicy.from_settings(settings),
        cross_site.CrossSitePolicy.from_settings(settings),
        Observer(metrics, activity, access_log=settings.logging.access_log),
    )
    app = web.Application(middlewares=[pipeline], client_max_size=settings.server.max_body_bytes)
    db = Database(
        settings.storage.path,
        synchronous=settings.storage.synchronous,
        busy_timeout_ms=settings.storage.busy_timeout_ms,
        group_commit_max=settings.storage.group_commit_max,
        checkpoint_interval_s=settings.storage.checkpoint_interval_s,
    )
    bundles = BundleHolder()
    app[settings_key] = settings
    app[clock_key] = clock
    app[db_key] = db
    app[bundle_key] = bundles
    app[sync_state_key] = sync_state
    app[sync_jobs_key] = SyncJobs(db, settings, clock, sync_state, bundle_hooks(bundles, db, clock))
    app[metrics_key] = metrics
    app[activity_key] = activity
    app[services_key] = Services(settings, db, bundles, clock)
    app[started_at_key] = time.monotonic()
    app.cleanup_ctx.append(storage_ctx)
    app.cleanup_ctx.append(_bundle_ctx)
    add_maintenance(app)
    app.cleanup_ctx.append(sampler_ctx)
    if settings.upstream.url is not None:
        app.cleanup_ctx.append(upstream_session_ctx)
    app.cleanup_ctx.append(scheduler_ctx)

    cross_site.install(app)
    table.register(app.router, sdk_dispatch)
    app.on_startup.append(_check_routes)
    return app
