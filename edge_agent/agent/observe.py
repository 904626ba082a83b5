"""The outermost middleware: request id, request metrics, the access log and the activity record.

It sits outside ``errors_middleware``, so it sees the response the client gets, envelope rendered: the
status it counts is the real one (a 422 counts as 422) by construction. Route labels are the matched
table entry's label (``agent/routes/table.py``); a known path asked with a method it does not serve (a
405) counts under that path's route, and ``unmatched`` is every path no route has, so a scan of random
paths cannot grow the label set.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from edge_agent.agent.keys import (
    activity_key,
    metrics_key,
    request_id_key,
    settings_key,
)
from edge_agent.agent.logs import access_log, request_id
from edge_agent.agent.routes import table

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

UNMATCHED = "unmatched"
REQUEST_ID_HEADER = "X-Request-Id"
# An incoming id is kept when it is short and plain (a caller's trace id); anything else gets ours, so a
# header cannot smuggle newlines or markup into the logs.
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Unique per process, cheap (no entropy per request).
_PROCESS_TAG = f"{os.getpid():x}"
_request_numbers = itertools.count(1)


def new_request_id(request: web.Request) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    if _SANE_ID.fullmatch(incoming):
        return incoming
    return f"{_PROCESS_TAG}-{next(_request_numbers)}"


def _path_label(path: str) -> str:
    entries = table.at_path(path)
    return entries[0].label if entries else UNMATCHED


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = table.match(request)
    label = route.label if route is not None else _path_label(request.path)
    rid = new_request_id(request)
    request[request_id_key] = rid
    token = request_id.set(rid)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:
            response.headers[REQUEST_ID_HEADER] = rid
        return response
    except web.HTTPException as exc:  # the redirects and the like the errors middleware lets through
        status = exc.status
        exc.headers[REQUEST_ID_HEADER] = rid
        raise
    finally:
        elapsed = time.perf_counter() - started
        request.app[metrics_key].observe_request(label, status, elapsed)
        if route is not None and route.access == "sdk":
            request.app[activity_key].record(label, status)
        if request.app[settings_key].logging.access_log:
            # Method, route name and status only: never the query, a header or the body.
            access_log.info(
                "%s %s %d %.1f ms",
                request.method,
                label,
                status,
                elapsed * 1000,
                extra={
                    "method": request.method,
                    "route": label,
                    "status": status,
                    "ms": round(elapsed * 1000, 3),
                },
            )
        request_id.reset(token)
