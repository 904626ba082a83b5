"""Small pieces every SDK handler uses."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge_agent.agent.bundles import LoadedBundle
from edge_agent.agent.decide.campaigns import decision_id_for, triggered
from edge_agent.agent.decide.compiled import serves
from edge_agent.agent.decide.context import EvalContext
from edge_agent.agent.keys import bundle_key, services_key
from edge_agent.agent.services import Services
from edge_agent.errors import StorageUnavailable
from edge_agent.storage import decisions
from edge_agent.storage.route_spec import RouteSpec
from edge_agent.storage.tracking import Snapshot


def services(request: web.Request) -> Services:
    return request.app[services_key]


def active_bundle(request: web.Request) -> LoadedBundle:
    loaded = request.app[bundle_key].current
    if loaded is None:  # only between start-up steps; readyz reports it
        raise StorageUnavailable("no bundle loaded yet")
    return loaded


def triggered_campaigns(
    svc: Services,
    spec: RouteSpec,
    loaded: LoadedBundle,
    ctx: EvalContext,
    snap: Snapshot,
    sec: str,
    events: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """``campaigns[]`` of a /visit (PAGELOAD) or /event (EVENT) answer: caps checked, not counted."""
    if spec.trigger is None or not serves(loaded.compiled, sec):
        return []
    limit = svc.settings.decision.max_campaigns
    return triggered(loaded.compiled, ctx, spec.trigger, events=events, caps=svc.caps(snap), limit=limit)


async def record_triggered(
    svc: Services, spec: RouteSpec, sec: str, snap: Snapshot, now: float, campaigns: list[dict[str, Any]]
) -> None:
    """Record the campaigns a /visit or /event trigger fired as that route's decisions (committed before
    the answer): no variation, which the app's /choose allocates, and not counted by frequency caps."""
    if not campaigns:
        return
    uid, ses = snap.identity.uid, snap.identity.ses
    made = [
        decisions.Decision(
            decision_id=decision_id_for(sec, uid, now),
            campaign_id=c["campaignId"],
            experience_id=c["experienceId"],
            variation_id="",
            uid=uid,
            ses=ses,
            at=now,
            control=False,
            route=spec.path,
        )
        for c in campaigns
    ]
    await svc.db.write(lambda conn: decisions.record(conn, made))
