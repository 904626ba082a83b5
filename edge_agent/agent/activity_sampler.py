"""Feeding the activity ring with queue depth and sync outcomes while nobody looks at the page.

``sampler_ctx`` (a cleanup context, after storage) runs :func:`sample` every :data:`SAMPLE_S` seconds, so
the status page's chart has the whole last hour when it is opened; ``/status`` samples on every call too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator

from aiohttp import web

from edge_agent.agent.keys import activity_key, clock_key, db_key, sync_state_key
from edge_agent.errors import StorageUnavailable
from edge_agent.storage.outbox import queue_summary

log = logging.getLogger(__name__)

SAMPLE_S = 15.0


async def sample(app: web.Application) -> None:
    """Note the queue depth and the sync runs since the last sample in the current minute."""
    now = app[clock_key].now()
    queue = await app[db_key].read(lambda conn: queue_summary(conn, now))
    app[activity_key].observe(now, int(queue["pending"] or 0), app[sync_state_key].counters)


async def _run(app: web.Application) -> None:
    while True:
        try:
            await sample(app)
        except (StorageUnavailable, sqlite3.Error) as exc:  # storage health says why; the chart has a gap
            log.debug("activity sample skipped: %s", exc)
        await asyncio.sleep(SAMPLE_S)


async def sampler_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(_run(app))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
