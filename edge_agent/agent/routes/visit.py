"""``POST /visit`` — store a visit (screen view); answer the campaigns its PAGELOAD triggers fire."""

from __future__ import annotations

from aiohttp import web

from edge_agent.agent.routes.common import active_bundle, fire_triggers, services
from edge_agent.agent.services import SdkRoute, json_response
from edge_agent.agent.wire import VisitIn


async def visit(sdk: SdkRoute[VisitIn], request: web.Request) -> web.Response:
    svc = services(request)
    raw, req = await svc.read(request, sdk)
    loaded = active_bundle(request)
    decide = fire_triggers(svc, sdk.spec, loaded, req.sec)
    done = await svc.track(sdk.spec, raw, req, loaded=loaded, decide=decide)
    return json_response({"user": svc.user_out(done.snap, req, done.ctx), "campaigns": done.decided})
