"""The storage as the daemon runs it: open at start, replaced when found corrupt, health for the probes.

``storage_ctx`` opens the database (a corrupt file is moved aside and replaced inside ``Database.open``)
and wires ``Database.on_corrupt``: corruption seen while serving schedules one recovery task that moves
the file aside, opens a fresh one and reloads the bundle from its packaged or configured source, as at
start. A database that does not open for another reason leaves the agent answering 503 (``/readyz``
says why) while it tries again every second: no exit, so no restart loop. ``storage_section`` is
``/status`` ``storage``; ``routes/admin_storage.py`` clears its incidents.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from edge_agent.agent.bundles import load_initial_bundle
from edge_agent.agent.keys import bundle_key, clock_key, db_key, settings_key
from edge_agent.errors import StorageUnavailable
from edge_agent.storage import recovery

log = logging.getLogger(__name__)

REOPEN_INTERVAL_S = 1.0  # a database that does not open (no permission, no space) is tried again


async def _recover(app: web.Application, reason: str) -> None:
    db = app[db_key]
    try:
        await asyncio.to_thread(db.recover, reason)
        await load_bundle(app)
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
    reopen: asyncio.Task[None] | None = None
    try:
        await asyncio.to_thread(db.open)
    except StorageUnavailable as exc:
        # Serve 503s and keep trying rather than exit: an exit would only be a restart loop.
        log.error("storage: %s; answering 503 and retrying every %.0f s", exc, REOPEN_INTERVAL_S)
        reopen = loop.create_task(_reopen(app))
    yield
    db.on_corrupt = None
    if reopen is not None:
        reopen.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reopen
    for task in list(tasks):
        await task
    await asyncio.to_thread(db.close)


async def _reopen(app: web.Application) -> None:
    db = app[db_key]
    while True:
        await asyncio.sleep(REOPEN_INTERVAL_S)
        try:
            await asyncio.to_thread(db.open)
        except StorageUnavailable as exc:
            log.debug("storage: still cannot open: %s", exc)
            continue
        log.warning("storage: %s is open", db.path)
        await load_bundle(app)
        return


async def load_bundle(app: web.Application) -> None:
    """The bundle from its configured or packaged source, as at start (needs the storage open)."""
    await load_initial_bundle(app[bundle_key], app[db_key], app[settings_key].bundle.path, app[clock_key])


async def storage_section(app: web.Application) -> dict[str, Any]:
    """``/status`` ``storage``: health and the moves not yet acknowledged.

    ``state`` is ``unavailable`` while the database is not open (``reason`` says why, as ``/readyz``
    does); the incidents live in the database, so they are unknown (empty) until it opens.
    """
    db = app[db_key]
    section = {"path": str(db.path), **db.health.as_dict(), "incidents": []}
    if not db.is_open:
        return section | {"state": "unavailable", "reason": db.health.reason or "not open"}
    try:
        section["incidents"] = await db.read(recovery.open_incidents)
    except StorageUnavailable as exc:
        return section | {"state": "unavailable", "reason": str(exc)}
    return section
