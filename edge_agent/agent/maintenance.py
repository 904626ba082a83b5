"""Storage maintenance in the daemon, apart from sync: the retention job (``storage/retention.py``).

``maintenance_ctx`` runs after ``storage_ctx`` (the database is open) and stops before it closes. It
runs with or without an upstream: forgetting old history is the agent's own business.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from edge_agent.agent.keys import clock_key, db_key, settings_key
from edge_agent.storage.retention import RetentionJob

retention_key = web.AppKey("retention", RetentionJob)


def add_maintenance(app: web.Application) -> None:
    """Create the retention job (``app[retention_key]``) and its cleanup context."""
    settings = app[settings_key]
    app[retention_key] = RetentionJob(app[db_key], app[clock_key], settings.retention.history_days)
    app.cleanup_ctx.append(maintenance_ctx)


async def maintenance_ctx(app: web.Application) -> AsyncIterator[None]:
    job = app[retention_key]
    job.start()
    yield
    await job.stop()
