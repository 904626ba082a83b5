"""Every route the agent serves, in one table: method, path, handler, metric name and access class.

``app.py`` registers routes only from here and refuses to start with a route the table does not know
(``check_router``), and access (``agent/access.py``) decides from the matched entry's access class, never
from the path. Adding a route therefore means choosing its protection.

- ``sdk``: the SDK API (``auth.api_keys``), served at ``/`` and under ``/v2``, duplicate slashes collapsed.
  Each SDK entry also says what the route means below the handler (its ``storage/route_spec.RouteSpec``:
  what it records, whether it is replayed, capped, wants assignments, its trigger) and its request model;
  the handler is called with that entry, and nothing else tells routes apart.
- ``probe``: ``/healthz``, ``/readyz`` and ``/openapi.json``, open to every caller.
- ``operator``: ``/status``, ``/metrics``, ``/admin/*`` and the status page: loopback callers only without
  ``server.admin_token``; with it, the bearer from every caller, except the status page on loopback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from aiohttp import web

from edge_agent.agent import wire
from edge_agent.agent.routes import (
    admin_bundle,
    admin_queue,
    admin_storage,
    admin_sync,
    choose,
    engagement,
    event,
    page,
    probes,
    status,
    strategy,
    user,
    visit,
)
from edge_agent.agent.services import E, SdkHandler, SdkRoute
from edge_agent.paths import sdk_path
from edge_agent.storage.decisions import CHOOSE
from edge_agent.storage.route_spec import Records, Replay, RouteSpec

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Access = Literal["sdk", "probe", "operator"]


async def _openapi_json(request: web.Request) -> web.Response:
    """``GET /openapi.json``. The generator and the operator API's models load on the first call:
    serving the SDK never needs them."""
    from edge_agent.agent import openapi

    return await openapi.openapi_json(request)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    access: Access
    name: str = ""  # bounded metric label; the path when empty
    person: bool = False  # a page for the person at the device: loopback callers need no token
    sdk: SdkRoute[Any] | None = None  # an SDK route's meaning and request model

    @property
    def label(self) -> str:
        return self.name or self.path


def _sdk(handler: SdkHandler[E], spec: RouteSpec, model: type[E]) -> Route:
    entry = SdkRoute(spec, model)
    return Route("POST", spec.path, partial(handler, entry), "sdk", sdk=entry)


# What each SDK route means to the layers below its handler (storage/route_spec.py).
VISIT = RouteSpec("/visit", Records.VISIT, Replay.ALWAYS, capped=True, trigger="PAGELOAD")
EVENT = RouteSpec("/event", Records.EVENTS, Replay.ALWAYS, capped=True, trigger="EVENT")
CHOOSE_SPEC = RouteSpec(CHOOSE, Records.NOTHING, Replay.NEVER, capped=True, assignments=True)
USER = RouteSpec("/user", Records.IDENTITY, Replay.WITH_IDENTITY)
STRATEGY = RouteSpec("/strategy", Records.NOTHING, Replay.NEVER)

SDK_ROUTES: tuple[Route, ...] = (
    _sdk(visit.visit, VISIT, wire.VisitIn),
    _sdk(event.event, EVENT, wire.EventRequest),
    _sdk(choose.choose, CHOOSE_SPEC, wire.ChooseRequest),
    _sdk(user.user, USER, wire.UserRequest),
    _sdk(strategy.strategy, STRATEGY, wire.StrategyRequest),
    # An engagement hit has no body and no profile: it is its own record (routes/engagement.py).
    Route("GET", "/engagement", engagement.engagement, "sdk"),
)
FIXED_ROUTES: tuple[Route, ...] = (
    Route("GET", "/healthz", probes.healthz, "probe"),
    Route("GET", "/readyz", probes.readyz, "probe"),
    Route("GET", "/openapi.json", _openapi_json, "probe"),
    Route("GET", "/status", status.status, "operator"),
    Route("GET", "/metrics", status.metrics, "operator"),
    Route("POST", "/admin/sync", admin_sync.sync_now, "operator"),
    Route("POST", "/admin/sync/resume", admin_sync.sync_resume, "operator"),
    Route("GET", "/admin/queue", admin_queue.queue, "operator"),
    Route("POST", "/admin/queue/retry", admin_queue.queue_retry, "operator"),
    Route("POST", "/admin/queue/purge", admin_queue.queue_purge, "operator"),
    Route("POST", "/admin/bundle", admin_bundle.bundle_load, "operator"),
    Route("POST", "/admin/storage/acknowledge", admin_storage.acknowledge, "operator"),
    Route("GET", "/", page.index, "operator", person=True),
)
ROUTES: tuple[Route, ...] = FIXED_ROUTES + SDK_ROUTES

# The SDK routes share one catch-all resource that normalizes the path before the lookup.
SDK_CATCH_ALL = "/{tail:.*}"
_SDK_CANONICAL = "/{tail}"  # how aiohttp names that resource
_FIXED = {(r.method, r.path): r for r in FIXED_ROUTES}
_SDK = {(r.method, r.path): r for r in SDK_ROUTES}


def at_path(path: str) -> list[Route]:
    """Every entry at a request path, whatever the method: the fixed route there, else the SDK route at
    its normalized form. A request no entry answers but this finds is a 405, not a 404."""
    fixed = [r for r in FIXED_ROUTES if r.path == path]
    return fixed or [r for r in SDK_ROUTES if r.path == sdk_path(path)]


def match(request: web.Request, method: str | None = None) -> Route | None:
    """The table entry a routed request hit (or would hit with ``method``, for a CORS preflight);
    ``None`` for an unknown path or method (a 404 or 405)."""
    method = method or request.method
    method = "GET" if method == "HEAD" else method
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else None
    if canonical == _SDK_CANONICAL:
        return _SDK.get((method, sdk_path(request.path)))
    return _FIXED.get((method, canonical or ""))


entry_key = web.RequestKey("route_entry", Route)  # set by the request pipeline (agent/pipeline.py)


def matched(request: web.Request) -> Route | None:
    """The entry the request pipeline matched for this request."""
    return request.get(entry_key)


def register(router: web.UrlDispatcher, sdk_dispatch: Handler) -> None:
    for route in FIXED_ROUTES:
        router.add_route(route.method, route.path, route.handler)
    router.add_route("*", SDK_CATCH_ALL, sdk_dispatch)
    check_router(router)


def check_router(router: web.UrlDispatcher) -> None:
    """Refuse a router holding a route the table does not carry: it would have no access class."""
    for aio_route in router.routes():
        canonical = aio_route.resource.canonical if aio_route.resource is not None else ""
        if canonical == _SDK_CANONICAL:
            continue
        method = "GET" if aio_route.method == "HEAD" else aio_route.method
        if (method, canonical) not in _FIXED:
            raise RuntimeError(f"route {aio_route.method} {canonical} is not in agent/routes/table.py")
