"""``POST /strategy`` — recommendations: one Products object per requested strategy, in request order."""

from __future__ import annotations

import sqlite3
from typing import Any

from aiohttp import web

from edge_agent.agent.decide.campaigns import decision_id_for
from edge_agent.agent.decide.context import EvalContext
from edge_agent.agent.decide.recommend import RecoBatch
from edge_agent.agent.routes.common import active_bundle, services
from edge_agent.agent.services import SdkRoute, json_response
from edge_agent.agent.wire import StrategyRequest
from edge_agent.storage.tracking import Snapshot


async def strategy(sdk: SdkRoute[StrategyRequest], request: web.Request) -> web.Response:
    svc = services(request)
    raw, req = await svc.read(request, sdk)
    loaded = active_bundle(request)

    def decide(conn: sqlite3.Connection, snap: Snapshot, ctx: EvalContext) -> tuple[RecoBatch, list[Any]]:
        decision_id = decision_id_for(req.sec, snap.identity.uid, ctx.now)
        batch = svc.recommender.batch(ctx, loaded.compiled)
        return batch, [batch.products_for_request(item, decision_id) for item in req.data]

    done = await svc.track(sdk.spec, raw, req, loaded=loaded, decide=decide)
    batch, data = done.decided
    await batch.fill()  # ranked in one read on a reader thread
    return json_response({"user": svc.user_out(done.snap, req, done.ctx), "data": data})
