"""Operator status (agent-api §7): ``GET /status`` (JSON) and ``GET /metrics`` (Prometheus text)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from edge_agent import __version__
from edge_agent.agent.keys import (
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
from edge_agent.errors import StorageUnavailable
from edge_agent.storage.outbox import queue_summary

# The queue figures when the database cannot be read: unknown (null), not zero.
UNKNOWN_QUEUE = ("pending", "oldestPendingAgeSeconds", "dead", "delivered", "bytes")


def sync_section(app: web.Application) -> dict[str, Any]:
    """``/status`` ``sync``: the shared SyncState plus the upstream it talks to."""
    section: dict[str, Any] = {**app[sync_state_key].as_dict(), "upstream": describe_upstream(app)}
    if section["upstream"] is None:
        section["note"] = "no upstream configured: running offline; everything is kept in the queue"
    return section


async def collect_status(app: web.Application) -> dict[str, Any]:
    settings = app[settings_key]
    db = app[db_key]
    now = app[clock_key].now()
    # File sizes are os.stat calls: taken on the reader thread with the queue figures.
    try:
        queue, sizes = await db.read(lambda conn: (queue_summary(conn, now), db.file_sizes()))
    except StorageUnavailable:  # not open (yet): the rest still says what is wrong; /readyz is 503
        queue, sizes = dict.fromkeys(UNKNOWN_QUEUE), await asyncio.to_thread(db.file_sizes)
    loaded = app[bundle_key].current
    status: dict[str, Any] = {
        "version": __version__,
        "uptimeSeconds": round(time.monotonic() - app[started_at_key], 3),
        "bundle": loaded.describe(now) if loaded else None,
        "queue": {
            "pending": queue["pending"],
            "oldestAgeSeconds": queue["oldestPendingAgeSeconds"],
            "deadLetter": queue["dead"],
            "delivered": queue["delivered"],
            "bytes": queue["bytes"],
        },
        "sync": sync_section(app),
        "storage": {**await storage_section(app), **sizes},
        "listen": {
            "host": settings.server.host,
            "port": settings.server.port,
            "publicUrl": settings.public_url,
        },
        "auth": {"apiKeys": len(settings.auth.api_keys), "sections": settings.auth.sections},
    }
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
