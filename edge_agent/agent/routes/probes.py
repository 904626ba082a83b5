"""Probes (agent-api §7): ``GET /healthz`` (the process answers) and ``GET /readyz`` (storage open and
taking writes — ``Database.health`` — and a bundle loaded; 503 + Retry-After otherwise). Open to every
caller: they reveal nothing but readiness."""

from __future__ import annotations

from aiohttp import web

from edge_agent.agent.keys import bundle_key, db_key
from edge_agent.agent.services import json_response

READY_RETRY_AFTER_S = 5


async def healthz(request: web.Request) -> web.Response:
    return json_response({"ok": True})


async def readyz(request: web.Request) -> web.Response:
    db = request.app[db_key]
    loaded = request.app[bundle_key].current
    problems = []
    if not db.is_open:
        problems.append(f"storage: not open: {db.health.reason}" if not db.health.ok else "storage: not open")
    elif not db.health.ok:
        problems.append(f"storage: degraded: {db.health.reason}")
    if loaded is None:
        problems.append("bundle: none loaded")
    if problems:
        response = json_response(
            {"ok": False, "status": 503, "error": "Not ready", "errors": problems}, status=503
        )
        response.headers["Retry-After"] = str(READY_RETRY_AFTER_S)
        return response
    return json_response({"ok": True, "bundle": loaded.version if loaded else None})
