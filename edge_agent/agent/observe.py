"""What the pipeline notes of every request: its id, its metrics, the access log and the activity record.

The pipeline (``agent/pipeline.py``) calls :meth:`Observer.finish` with the answer the client gets, the
error envelope rendered: the status it counts is the real one (a 422 counts as 422) by construction.
Route labels are the matched table entry's label (``agent/routes/table.py``); a known path asked with a
method it does not serve (a 405) counts under that path's route, and ``unmatched`` is every path no route
has, so a scan of random paths cannot grow the label set.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass

from aiohttp import web

from edge_agent.agent.activity import Activity
from edge_agent.agent.logs import access_log
from edge_agent.agent.metrics import Metrics
from edge_agent.agent.routes import table

UNMATCHED = "unmatched"
REQUEST_ID_HEADER = "X-Request-Id"
# An incoming id is kept when it is short and plain (a caller's trace id); anything else gets ours, so a
# header cannot smuggle newlines or markup into the logs.
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Unique per process, cheap (no entropy per request).
_PROCESS_TAG = f"{os.getpid():x}"
_request_numbers = itertools.count(1)


def new_request_id(request: web.Request) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER)
    if incoming and _SANE_ID.fullmatch(incoming):
        return incoming
    return f"{_PROCESS_TAG}-{next(_request_numbers)}"


def label_of(request: web.Request, route: table.Route | None) -> str:
    if route is not None:
        return route.label
    entries = table.at_path(request.path)
    return entries[0].label if entries else UNMATCHED


@dataclass(frozen=True, slots=True)
class Observer:
    metrics: Metrics
    activity: Activity
    access_log: bool  # ``logging.access_log``

    def finish(self, request: web.Request, route: table.Route | None, status: int, elapsed: float) -> None:
        label = label_of(request, route)
        self.metrics.observe_request(label, status, elapsed)
        if route is not None and route.access == "sdk":
            self.activity.record(label, status)
        if self.access_log:
            # Method, route name and status only: never the query, a header or the body.
            ms = elapsed * 1000
            extra = {"method": request.method, "route": label, "status": status, "ms": round(ms, 3)}
            access_log.info("%s %s %d %.1f ms", request.method, label, status, ms, extra=extra)
