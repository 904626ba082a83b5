"""Wiring the sync jobs into the app: the bundle hooks the agent lends them, and two cleanup contexts.

Cleanup contexts, after storage and bundle (``create_app`` appends them in this order):

1. ``upstream_session_ctx`` (only with ``upstream.url``): one ``aiohttp.ClientSession`` with explicit
   timeouts (``upstream.timeout_s``, ``upstream.connect_timeout_s``), shared by push, pull and probe.
2. ``scheduler_ctx``: starts the jobs (``sync/jobs.py``) and stops them before the session and the
   storage close. It runs without an upstream too: the bundle file watch and the check for a bundle
   another process stored (``edge-agent bundle load``) still need it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from edge_agent.agent.bundles import BundleHolder
from edge_agent.agent.keys import settings_key, sync_jobs_key
from edge_agent.clock import Clock
from edge_agent.storage.bundles import stored_bundle_head
from edge_agent.storage.database import Database
from edge_agent.sync.client import create_session
from edge_agent.sync.jobs import BundleHooks

log = logging.getLogger(__name__)


def bundle_hooks(holder: BundleHolder, db: Database, clock: Clock) -> BundleHooks:
    """The agent's side of a new bundle, as callbacks the sync package can hold."""

    async def install(doc: dict[str, Any], source: str, etag: str | None) -> str:
        loaded = await holder.install(db, doc, source=source, clock=clock, etag=etag)
        return loaded.version

    async def reload_stored() -> str | None:
        # One small read per tick; the body is read and compiled only when it changed.
        head = await db.read(stored_bundle_head)
        if head is None or holder.is_stored(head):
            return None
        loaded = await holder.reload_stored(db)
        if loaded is None:
            return None
        log.info("bundle %s (stored by %s) is now active", loaded.version, loaded.source)
        return loaded.version

    return BundleHooks(install=install, reload_stored=reload_stored)


async def upstream_session_ctx(app: web.Application) -> AsyncIterator[None]:
    async with create_session(app[settings_key]) as session:
        app[sync_jobs_key].bind(session)
        yield


async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    jobs = app[sync_jobs_key]
    await jobs.start()
    yield
    await jobs.stop()


def describe_upstream(app: web.Application) -> str | None:
    """The upstream URL for status, without any user:password part."""
    url = app[settings_key].upstream.url
    if url is None:
        return None
    if url.username or url.password:
        host = url.host or ""
        port = f":{url.port}" if url.port else ""
        return f"{url.scheme}://***@{host}{port}{url.path or ''}"
    return str(url)
