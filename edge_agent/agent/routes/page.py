"""``GET /`` — the status page for a person at the kiosk (``agent/status_page.py`` draws it).

The figures are ``collect_status``'s, the same ``/status`` answers; the page adds the latest decisions
and engagement hits and the last hour from the activity ring. The CSP forbids anything not inline in the
document, so the page stays self-contained.
"""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

from aiohttp import web

from edge_agent.agent import chart
from edge_agent.agent.activity import Activity
from edge_agent.agent.keys import activity_key, db_key, settings_key
from edge_agent.agent.routes.status import collect_status
from edge_agent.agent.status_page import PageData, render
from edge_agent.errors import StorageUnavailable
from edge_agent.storage import decisions, engagements

DECISIONS = 20
HITS = 10
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def last_hour(activity: Activity, now: float) -> chart.Hour:
    return chart.Hour(
        requests=activity.per_minute(now),
        queue=activity.queue_depth.series(now),
        sync_ok=[n or 0 for n in activity.sync["ok"].series(now)],
        sync_failed=[n or 0 for n in activity.sync["failed"].series(now)],
        sync_skipped=[n or 0 for n in activity.sync["skipped"].series(now)],
    )


async def index(request: web.Request) -> web.Response:
    app = request.app
    st = await collect_status(app)
    try:
        recent, hits = await app[db_key].read(
            lambda conn: (decisions.recent(conn, DECISIONS), engagements.recent(conn, HITS))
        )
    except StorageUnavailable:  # not open: the verdict says so; the lists are unknown
        recent, hits = [], []
    name = app[settings_key].decision.timezone
    zone = ZoneInfo(name) if name else None  # loaded (and cached) when the settings were checked
    data = PageData(st, recent, hits, last_hour(app[activity_key], st["time"]), zone)
    # Local times read the zone files on first use: rendered off the loop.
    page = await asyncio.to_thread(render, data)
    return web.Response(text=page, content_type="text/html", headers=HEADERS)
