"""Composition root of the reference upstream: routes, call-level faults and auth, the bundle route."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from edge_agent.clock import Clock, SystemClock
from edge_agent.upstream_sim import control, ingest
from edge_agent.upstream_sim.bundles import BundleDirectory
from edge_agent.upstream_sim.faults import FaultConfig, FaultInjector, canonical_route
from edge_agent.upstream_sim.ratelimit import RETRY_AFTER, ArrivalLimiter
from edge_agent.upstream_sim.shared import SimState, error_response, json_response, sim_key
from edge_agent.upstream_sim.store import ReceivedStore

MAX_BODY_BYTES = 2 * 1024 * 1024
"""Largest body read (the agent accepts 1 MiB per call; batches have their own 512 KiB limit)."""

BATCH_ROUTE = "/edge/v1/batch"
BUNDLE_ROUTE = "/edge/v1/bundle"


def create_upstream_app(
    data_dir: Path,
    *,
    keys: list[str] | None = None,
    faults: FaultConfig | None = None,
    clock: Clock | None = None,
    rate: float | None = None,
) -> web.Application:
    """The reference upstream (upstream.md §3), keeping its state under ``data_dir``.

    ``data_dir / "upstream.db"`` records what was received; ``data_dir / "bundles"`` holds the bundle
    versions (see ``bundles.py``). ``keys``: accepted bearer tokens; None or empty = any bearer (or none).
    ``faults``: the fault configuration at start, and what ``POST /sim/reset`` returns to. ``clock``
    decides ``outageUntil``, the recorded arrival times and the rate windows (default: system time).
    ``rate``: the fleet-wide limit in calls per second over all data routes (``ratelimit.py``); None = none.
    """
    clock = clock or SystemClock()
    app = web.Application(middlewares=[data_route_faults], client_max_size=MAX_BODY_BYTES)
    app[sim_key] = SimState(
        store=ReceivedStore(data_dir / "upstream.db"),
        faults=FaultInjector(faults or FaultConfig(), clock),
        bundles=BundleDirectory(data_dir / "bundles"),
        keys=frozenset(keys or ()),
        clock=clock,
        limiter=ArrivalLimiter(rate, clock),
    )
    app.cleanup_ctx.append(_store_ctx)
    # The central API's base URL may end in /v2; {upstream}/edge/v1/... then lands under it too.
    for prefix in ("", "/v2"):
        for route, method in ingest.REPLAY_ROUTES.items():
            app.router.add_route(method, prefix + route, ingest.replay)
        app.router.add_post(prefix + BATCH_ROUTE, ingest.batch)
        app.router.add_get(prefix + BUNDLE_ROUTE, bundle)
    control.add_routes(app)
    return app


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    store = app[sim_key].store
    await store.open()
    yield
    await store.close()


def _auth_error(request: web.Request, keys: frozenset[str]) -> web.Response | None:
    """401 without a bearer, 403 with one that is not a configured key; None when allowed."""
    if not keys:
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error_response(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
    if token.strip() not in keys:
        return error_response(403, "unknown bearer token")
    return None


@web.middleware
async def data_route_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The rate limit, then call-level faults and auth for the data routes, in this order: the fleet-wide
    rate (429 ``Retry-After: 1`` above it; every arrival counted), latency, connection reset,
    outage (503), auth (401/403), ``statusForPaths``, ``errorRate`` (replay and bundle calls; batch
    calls roll ``batchErrorRate`` and ``errorRate`` per item instead). ``/sim/*`` and 404s pass untouched.
    """
    if request.path.startswith("/sim/") or request.match_info.http_exception is not None:
        return await handler(request)
    sim = request.app[sim_key]
    if not sim.limiter.admit():
        return error_response(429, "rate limit (reference upstream --rate)", {"Retry-After": RETRY_AFTER})
    faults = sim.faults
    delay = faults.latency_s()
    if delay:
        await asyncio.sleep(delay)
    if faults.should_reset():
        # Abort (RST) instead of answering: the client must see a connection error, not a status.
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=503)  # never delivered
    if faults.outage_active():
        return error_response(503, "outage (injected)", faults.retry_after(503))
    denied = _auth_error(request, sim.keys)
    if denied is not None:
        return denied
    route = canonical_route(request.path)
    status = faults.path_status(route)
    if status is None and route != BATCH_ROUTE:
        status = faults.error_status()
    if status is not None:
        return error_response(status, "injected by the reference upstream", faults.retry_after(status))
    return await handler(request)


async def bundle(request: web.Request) -> web.StreamResponse:
    """``GET /edge/v1/bundle[?since=V]`` with ``If-None-Match``: 304, a delta, or the full bundle
    (upstream.md §2); 404 while the bundle directory is empty. ETag is the quoted current version.
    The ``bundleFault`` fault answers 200 with an empty body (``empty``) or a body without ``version``
    (``invalid``) instead."""
    sim = request.app[sim_key]
    fault = sim.faults.bundle_fault()
    if fault == "empty":
        return web.Response(status=200, content_type="application/json")
    answer = await asyncio.to_thread(
        sim.bundles.answer, request.query.get("since") or None, request.headers.get("If-None-Match")
    )
    if fault == "invalid":
        body = {key: value for key, value in (answer.body or {"full": True}).items() if key != "version"}
        return json_response(body)
    if answer.status == 404:
        return error_response(404, f"no bundle in {sim.bundles.directory}")
    headers = {"ETag": answer.etag} if answer.etag else {}
    if answer.status == 304:
        return web.Response(status=304, headers=headers)
    return json_response(answer.body, headers=headers)
