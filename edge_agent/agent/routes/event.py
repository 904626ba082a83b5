"""``POST /event`` — store events (cart, purchase, custom); answer the campaigns their EVENT triggers fire."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge_agent.agent.routes.common import active_bundle, record_triggered, services, triggered_campaigns
from edge_agent.agent.services import json_response
from edge_agent.agent.wire import EventRequest


def _event_items(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The events as sent (for the replay and the history), minus nulls; ``type`` already validated."""
    return [{k: v for k, v in item.items() if v is not None} for item in raw["data"]]


async def event(request: web.Request) -> web.Response:
    svc = services(request)
    raw, req = await svc.read(request, EventRequest)
    loaded = active_bundle(request)
    events = _event_items(raw)
    snap = await svc.track("event", "/event", raw, req, loaded=loaded, events=events)
    ctx = svc.context(snap, req, loaded)
    campaigns = triggered_campaigns(svc, loaded, ctx, snap, req.sec, "EVENT", events)
    await record_triggered(svc, "/event", req.sec, snap, ctx.now, campaigns)
    return json_response({"user": svc.user_out(snap, req, ctx), "campaigns": campaigns})
