"""``POST /choose`` — content by ``selector``, ``campaignId`` or ``group``, several items per POST.

Echo rules (sdk-wire-contract §5.3): a selector item's entry echoes ``selector``; a campaignId item's entry
has no ``selector`` and carries the campaign in ``payload``; a group item yields one entry per eligible
campaign; an item with nothing to show yields no entry.
"""

from __future__ import annotations

import sqlite3

from aiohttp import web

from edge_agent.agent.decide.campaigns import Chooser, ChooseResult
from edge_agent.agent.decide.compiled import serves
from edge_agent.agent.decide.context import EvalContext
from edge_agent.agent.decide.recommend import RecoBatch
from edge_agent.agent.routes.common import active_bundle, services
from edge_agent.agent.services import SdkRoute, json_response
from edge_agent.agent.wire import ChooseRequest
from edge_agent.storage.tracking import Snapshot, record_decisions


async def choose(sdk: SdkRoute[ChooseRequest], request: web.Request) -> web.Response:
    svc = services(request)
    raw, req = await svc.read(request, sdk)
    loaded = active_bundle(request)

    def decide(conn: sqlite3.Connection, snap: Snapshot, ctx: EvalContext) -> tuple[ChooseResult, RecoBatch]:
        """Decided and recorded in the request's write: the caps read there see every decision before."""
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
        if result.decisions:
            record_decisions(conn, result.decisions, result.new_assignments, snap.identity.uid, ctx.now)
        return result, products

    done = await svc.track(sdk.spec, raw, req, loaded=loaded, decide=decide)
    result, products = done.decided
    await products.fill()  # the contents' products, ranked in one read (a reader thread, not a write)
    return json_response({"user": svc.user_out(done.snap, req, done.ctx), "data": result.entries})
