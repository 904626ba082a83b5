"""Operator status (agent-api §7): ``GET /status`` (JSON) and ``GET /metrics`` (Prometheus text).

``collect_status`` is what the status page shows too, so the page and ``/status`` cannot disagree; error
texts pass through ``error_text.readable``, never the upstream's raw body.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from edge_agent import __version__
from edge_agent.agent.error_text import readable
from edge_agent.agent.keys import (
    activity_key,
    bundle_key,
    clock_key,
    db_key,
    metrics_key,
    settings_key,
    started_at_key,
    sync_state_key,
)
from edge_agent.agent.services import json_response
from edge_agent.agent.storage_health import storage_section
from edge_agent.agent.sync_wiring import describe_upstream
from edge_agent.agent.verdict import verdict
from edge_agent.errors import StorageUnavailable
from edge_agent.storage import decisions
from edge_agent.storage.outbox import last_dead, queue_summary

HOUR = 3600.0

# The queue figures when the database cannot be read: unknown (null), not zero.
UNKNOWN_QUEUE = ("pending", "oldestPendingAgeSeconds", "dead", "delivered", "bytes")


def sync_section(app: web.Application) -> dict[str, Any]:
    """``/status`` ``sync``: the shared SyncState plus the upstream it talks to."""
    section: dict[str, Any] = {**app[sync_state_key].as_dict(), "upstream": describe_upstream(app)}
    section["lastError"] = readable(section["lastError"])
    if section["upstream"] is None:
        section["note"] = "no upstream configured: running offline; everything is kept in the queue"
    return section


async def collect_status(app: web.Application) -> dict[str, Any]:
    settings = app[settings_key]
    db = app[db_key]
    now = app[clock_key].now()
    # File sizes are os.stat calls: taken on the reader thread with the queue figures.
    try:
        queue, sizes, dead, (decided, decided_at) = await db.read(
            lambda conn: (
                queue_summary(conn, now),
                db.file_sizes(),
                last_dead(conn),
                decisions.summary(conn, now - HOUR),
            )
        )
    except StorageUnavailable:  # not open (yet): the rest still says what is wrong; /readyz is 503
        queue, sizes = dict.fromkeys(UNKNOWN_QUEUE), await asyncio.to_thread(db.file_sizes)
        dead, decided, decided_at = None, None, None
    sync = sync_section(app)
    activity = app[activity_key]
    if queue["pending"] is not None:
        activity.observe(now, int(queue["pending"]), app[sync_state_key].counters)
    loaded = app[bundle_key].current
    status: dict[str, Any] = {
        "version": __version__,
        "time": now,
        "uptimeSeconds": round(time.monotonic() - app[started_at_key], 3),
        "bundle": loaded.describe(now) if loaded else None,
        "queue": {
            "pending": queue["pending"],
            "oldestAgeSeconds": queue["oldestPendingAgeSeconds"],
            "deadLetter": queue["dead"],
            "delivered": queue["delivered"],
            "bytes": queue["bytes"],
            "lastDeadLetter": None
            if dead is None
            else {
                "path": dead["path"],
                "status": dead["last_status"],
                "error": readable(dead["last_error"]),
                "receivedAt": dead["received_at"],
            },
        },
        "sync": sync,
        "storage": {**await storage_section(app), **sizes},
        "listen": {
            "host": settings.server.host,
            "port": settings.server.port,
            "publicUrl": settings.public_url,
        },
        "auth": {"apiKeys": len(settings.auth.api_keys), "sections": settings.auth.sections},
        "activity": activity.summary(now),
        "decisions": {"lastHour": decided, "lastAt": decided_at},
    }
    status["verdict"] = verdict(status)
    metrics = app[metrics_key]
    metrics.queue_pending.set(queue["pending"] or 0)
    metrics.queue_oldest.set(queue["oldestPendingAgeSeconds"] or 0)
    metrics.queue_dead.set(queue["dead"] or 0)
    if loaded is not None:
        metrics.bundle_age.set(max(0.0, now - loaded.loaded_at))
    return status


async def status(request: web.Request) -> web.Response:
    return json_response(await collect_status(request.app))


async def metrics(request: web.Request) -> web.Response:
    await collect_status(request.app)  # refreshes the gauges
    # Off the loop: the process collector reads /proc files.
    body = await asyncio.to_thread(request.app[metrics_key].render)
    return web.Response(body=body, content_type="text/plain", charset="utf-8")
