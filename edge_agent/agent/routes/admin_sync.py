"""Operator sync routes (agent-api §7).

``POST /admin/sync``: run push and pull now and say what happened. Backoff and
``Retry-After`` timers are ignored; a sec paused by a 401/403 stays paused (fix the key, then an operator
lifts the pause: retrying with the same key would only burn the queue). The call waits for both to
finish: a drain in progress is waited for, then a forced one runs.

Answers ``200 {"ok": true, "push": <drain report>, "pull": <pull report>, "sync": <status sync section>}``
or ``409`` when no upstream is configured.

``POST /admin/sync/resume[?sec=S]`` → ``{resumed: [secs]}`` (no ``sec``: every paused sec).
"""

from __future__ import annotations

from aiohttp import web

from edge_agent.agent.keys import sync_jobs_key, sync_state_key
from edge_agent.agent.routes.status import sync_section
from edge_agent.agent.services import json_response
from edge_agent.errors import Conflict
from edge_agent.sync.jobs import UpstreamNotConfigured


async def sync_now(request: web.Request) -> web.Response:
    jobs = request.app[sync_jobs_key]
    try:
        result = await jobs.sync_now()
    except UpstreamNotConfigured as exc:
        raise Conflict(str(exc)) from None
    return json_response({"ok": True, **result, "sync": sync_section(request.app)})


async def sync_resume(request: web.Request) -> web.Response:
    drainer = request.app[sync_jobs_key].drainer
    resumed = drainer.resume(request.query.get("sec")) if drainer is not None else []
    paused = dict(request.app[sync_state_key].paused_secs)
    return json_response({"ok": True, "resumed": resumed, "paused": paused})
