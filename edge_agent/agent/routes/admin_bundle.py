"""``POST /admin/bundle`` (agent-api §7): install a bundle document → ``{version}``; an invalid one is a 422
listing every problem. Operator access."""

from __future__ import annotations

from aiohttp import web

from edge_agent.agent.keys import bundle_key, clock_key, db_key, services_key
from edge_agent.agent.services import json_response


async def bundle_load(request: web.Request) -> web.Response:
    app = request.app
    body = await app[services_key].read_body(request)
    loaded = await app[bundle_key].install(app[db_key], body, source="admin", clock=app[clock_key])
    return json_response({"ok": True, "version": loaded.version})
