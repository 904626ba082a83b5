"""``POST /visit`` — store a visit (screen view); answer the campaigns its PAGELOAD triggers fire."""

from __future__ import annotations

from aiohttp import web

from edge_agent.agent.routes.common import active_bundle, record_triggered, services, triggered_campaigns
from edge_agent.agent.services import SdkRoute, json_response
from edge_agent.agent.wire import VisitIn


async def visit(sdk: SdkRoute[VisitIn], request: web.Request) -> web.Response:
    svc = services(request)
    raw, req = await svc.read(request, sdk)
    loaded = active_bundle(request)
    snap = await svc.track(sdk.spec, raw, req, loaded=loaded)
    ctx = svc.context(snap, req, loaded)
    campaigns = triggered_campaigns(svc, sdk.spec, loaded, ctx, snap, req.sec)
    await record_triggered(svc, sdk.spec, req.sec, snap, ctx.now, campaigns)
    return json_response({"user": svc.user_out(snap, req, ctx), "campaigns": campaigns})
