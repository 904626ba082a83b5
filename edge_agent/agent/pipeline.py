"""The request pipeline: one middleware, one pass per request.

In order, for every request:

1. **route**: find its entry of ``agent/routes/table.py`` (method, path, handler, metric name, access
   class), once; the SDK dispatcher and every step below read that entry.
2. **request id** (``agent/observe.py``): ``X-Request-Id``, kept when the caller's is plain, on every log
   line and on the answer.
3. **cross-site** (``agent/cross_site.py``): a foreign ``Host`` (421), a foreign ``Origin`` (403) or a
   write without a JSON content type (415) is refused before any handler runs; a CORS preflight is
   answered here.
4. **access** (``agent/access.py``): decided from the entry's access class, never from the path.
5. **handler**.
6. **errors** (``agent/error_envelope.py``): whatever steps 3–5 raised becomes its JSON envelope.
7. **observe**: metrics under the route's name and the status sent, the access-log line, the SDK
   activity record, all from the answer as rendered.

One middleware rather than five: a layer per step cost a coroutine frame, a handler lookup and settings
reads per request (≈ 40 µs of the loop's CPU per ``/choose`` with five layers on the development machine,
docs/performance.md); the steps stay in their own modules and are plain calls here.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from edge_agent.agent import cross_site, error_envelope
from edge_agent.agent.access import AccessPolicy
from edge_agent.agent.keys import request_id_key
from edge_agent.agent.logs import request_id
from edge_agent.agent.observe import REQUEST_ID_HEADER, Observer, new_request_id
from edge_agent.agent.routes import table

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def request_pipeline(
    access: AccessPolicy, policy: cross_site.CrossSitePolicy, observer: Observer
) -> Middleware:
    """The app's one middleware, its policies fixed at ``create_app`` (settings do not change while it
    runs)."""
    perf_counter = time.perf_counter

    @web.middleware
    async def pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = table.match(request)
        if route is not None:
            request[table.entry_key] = route
        rid = new_request_id(request)
        request[request_id_key] = rid
        token = request_id.set(rid)
        started = perf_counter()
        status = 500
        try:
            try:
                response = cross_site.screen(request, policy, route)
                if response is None:
                    access.check(request, route)
                    response = await handler(request)
            except Exception as exc:
                response = error_envelope.render(request, exc)
            status = response.status
            if not response.prepared:
                response.headers[REQUEST_ID_HEADER] = rid
            return response
        except web.HTTPException as exc:  # a redirect the envelope lets through
            status = exc.status
            exc.headers[REQUEST_ID_HEADER] = rid
            raise
        finally:
            observer.finish(request, route, status, perf_counter() - started)
            request_id.reset(token)

    return pipeline
