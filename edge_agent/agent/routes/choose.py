"""``POST /choose`` — content by ``selector``, ``campaignId`` or ``group``, several items per POST.

Echo rules (sdk-wire-contract §5.3): a selector item's entry echoes ``selector``; a campaignId item's entry
has no ``selector`` and carries the campaign in ``payload``; a group item yields one entry per eligible
campaign; an item with nothing to show yields no entry.
"""

from __future__ import annotations

from aiohttp import web

from edge_agent.agent.decide.campaigns import Chooser
from edge_agent.agent.decide.compiled import serves
from edge_agent.agent.routes.common import active_bundle, services
from edge_agent.agent.services import SdkRoute, json_response
from edge_agent.agent.wire import ChooseRequest
from edge_agent.storage.tracking import record_decisions


async def choose(sdk: SdkRoute[ChooseRequest], request: web.Request) -> web.Response:
    svc = services(request)
    raw, req = await svc.read(request, sdk)
    loaded = active_bundle(request)
    snap = await svc.track(sdk.spec, raw, req, loaded=loaded)
    ctx = svc.context(snap, req, loaded)
    products = svc.recommender.batch(ctx, loaded.compiled, req.content_settings)
    chooser = Chooser(
        bundle=loaded.compiled,
        ctx=ctx,
        sec=req.sec,
        base_url=svc.base_url,
        assignments=snap.assignments,
        caps=svc.caps(snap),
        products=products,
    )
    result = chooser.choose(req.data if serves(loaded.compiled, req.sec) else [])
    await products.fill()  # the contents' products, ranked in one read
    if result.decisions:
        uid, now = snap.identity.uid, ctx.now
        await svc.db.write(
            lambda conn: record_decisions(conn, result.decisions, result.new_assignments, uid, now)
        )
    return json_response({"user": svc.user_out(snap, req, ctx), "data": result.entries})
