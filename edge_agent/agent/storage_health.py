"""The storage as the daemon runs it: open at start, replaced when found corrupt, health for the probes.

``storage_ctx`` opens the database (a corrupt file is moved aside and replaced inside ``Database.open``)
and wires ``Database.on_corrupt``: corruption seen while serving schedules one recovery task that moves
the file aside, opens a fresh one and reloads the bundle from its packaged or configured source, as at
start. ``storage_section`` is ``/status`` ``storage``; ``routes/admin_storage.py`` clears its incidents.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from edge_agent.agent.bundles import load_initial_bundle
from edge_agent.agent.keys import bundle_key, clock_key, db_key, settings_key
from edge_agent.storage import recovery

log = logging.getLogger(__name__)


async def _recover(app: web.Application, reason: str) -> None:
    db = app[db_key]
    try:
        await asyncio.to_thread(db.recover, reason)
        settings = app[settings_key]
        await load_initial_bundle(app[bundle_key], db, settings.bundle.path, app[clock_key])
    except Exception:  # the storage stays degraded (503); the next corruption report tries again
        log.exception("storage: recovery of %s failed", db.path)


async def storage_ctx(app: web.Application) -> AsyncIterator[None]:
    db = app[db_key]
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    def start_recovery(reason: str) -> None:
        task = loop.create_task(_recover(app, reason))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def on_corrupt(reason: str) -> None:  # a writer or reader thread
        loop.call_soon_threadsafe(start_recovery, reason)

    db.on_corrupt = on_corrupt
    await asyncio.to_thread(db.open)
    yield
    db.on_corrupt = None
    for task in list(tasks):
        await task
    await asyncio.to_thread(db.close)


async def storage_section(app: web.Application) -> dict[str, Any]:
    """``/status`` ``storage``: health and the moves not yet acknowledged."""
    db = app[db_key]
    incidents = await db.read(recovery.open_incidents)
    return {"path": str(db.path), **db.health.as_dict(), "incidents": incidents}
