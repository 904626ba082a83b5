"""``POST /admin/sync`` (agent-api §7): run push and pull now and say what happened.

Operator-authenticated like ``/status`` (``server.admin_token``, by the auth middleware). Backoff and
``Retry-After`` timers are ignored; a sec paused by a 401/403 stays paused (fix the key, then an operator
lifts the pause: retrying with the same key would only burn the queue). The call waits for both to
finish: a drain in progress is waited for, then a forced one runs.

Answers ``200 {"ok": true, "push": <drain report>, "pull": <pull report>, "sync": <status sync section>}``
or ``409`` when no upstream is configured.
"""

from __future__ import annotations

from aiohttp import web

from edge_agent.agent.keys import sync_jobs_key
from edge_agent.agent.middleware import error_body
from edge_agent.agent.routes.admin import sync_section
from edge_agent.agent.services import json_response
from edge_agent.sync.jobs import UpstreamNotConfigured


async def sync_now(request: web.Request) -> web.Response:
    jobs = request.app[sync_jobs_key]
    try:
        result = await jobs.sync_now()
    except UpstreamNotConfigured as exc:
        return json_response(error_body(409, "Conflict", [str(exc)]), status=409)
    return json_response({"ok": True, **result, "sync": sync_section(request.app)})
