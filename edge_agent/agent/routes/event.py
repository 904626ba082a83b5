"""``POST /event`` — store events (cart, purchase, custom); answer the campaigns their EVENT triggers fire."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge_agent.agent.routes.common import active_bundle, fire_triggers, services
from edge_agent.agent.services import SdkRoute, json_response
from edge_agent.agent.wire import EventRequest


def _event_items(raw: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The events as sent (for the replay and the history), minus nulls; the models validated them."""
    assert raw is not None  # /event is replayed, so its body as sent is kept
    return [{k: v for k, v in item.items() if v is not None} for item in raw["data"]]


async def event(sdk: SdkRoute[EventRequest], request: web.Request) -> web.Response:
    svc = services(request)
    raw, req = await svc.read(request, sdk)
    loaded = active_bundle(request)
    sent = _event_items(raw)
    decide = fire_triggers(svc, sdk.spec, loaded, req.sec, sent)
    done = await svc.track(
        sdk.spec, raw, req, loaded=loaded, decide=decide, events=req.data, sent_events=sent
    )
    return json_response({"user": svc.user_out(done.snap, req, done.ctx), "campaigns": done.decided})
