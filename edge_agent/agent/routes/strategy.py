"""``POST /strategy`` — recommendations: one Products object per requested strategy, in request order."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge_agent.agent.decide.campaigns import decision_id_for
from edge_agent.agent.routes.common import active_bundle, services
from edge_agent.agent.services import SdkRoute, json_response
from edge_agent.agent.wire import StrategyRequest


async def strategy(sdk: SdkRoute[StrategyRequest], request: web.Request) -> web.Response:
    svc = services(request)
    raw, req = await svc.read(request, sdk)
    loaded = active_bundle(request)
    snap = await svc.track(sdk.spec, raw, req, loaded=loaded)
    ctx = svc.context(snap, req, loaded)
    decision_id = decision_id_for(req.sec, snap.identity.uid, ctx.now)
    batch = svc.recommender.batch(ctx, loaded.compiled)
    data: list[dict[str, Any]] = [batch.products_for_request(item, decision_id) for item in req.data]
    await batch.fill()
    return json_response({"user": svc.user_out(snap, req, ctx), "data": data})
