"""``POST /user`` — get or store a user: resolve or create the profile, merge attributes, return UserInfo."""

from __future__ import annotations

from aiohttp import web

from edge_agent.agent.routes.common import active_bundle, services
from edge_agent.agent.services import SdkRoute, json_response, no_decisions
from edge_agent.agent.wire import UserRequest


async def user(sdk: SdkRoute[UserRequest], request: web.Request) -> web.Response:
    svc = services(request)
    raw, req = await svc.read(request, sdk)
    loaded = active_bundle(request)
    done = await svc.track(sdk.spec, raw, req, loaded=loaded, decide=no_decisions)
    snap = done.snap
    out = {"uid": snap.identity.uid, "ses": snap.identity.ses, **svc.user_info(snap, done.ctx)}
    if req.options.is_return_counter:
        out["counters"] = snap.counters or {}
    return json_response({"user": out})
