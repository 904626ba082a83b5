"""Small pieces every SDK handler uses."""

from __future__ import annotations

import sqlite3
from typing import Any

from aiohttp import web

from edge_agent.agent.bundles import LoadedBundle
from edge_agent.agent.decide.campaigns import decision_id_for, triggered
from edge_agent.agent.decide.compiled import serves
from edge_agent.agent.decide.context import EvalContext
from edge_agent.agent.keys import bundle_key, services_key
from edge_agent.agent.services import Decide, Services
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


def fire_triggers(
    svc: Services,
    spec: RouteSpec,
    loaded: LoadedBundle,
    sec: str,
    events: list[dict[str, Any]] | None = None,
) -> Decide[list[dict[str, Any]]]:
    """The decisions of a /visit (PAGELOAD) or /event (EVENT): the ``campaigns[]`` its trigger fires, caps
    checked, not counted, recorded as that route's decisions in the request's write (no variation, which
    the app's /choose allocates)."""

    def decide(conn: sqlite3.Connection, snap: Snapshot, ctx: EvalContext) -> list[dict[str, Any]]:
        if spec.trigger is None or not serves(loaded.compiled, sec):
            return []
        limit = svc.settings.decision.max_campaigns
        fired = triggered(loaded.compiled, ctx, spec.trigger, events=events, caps=svc.caps(snap), limit=limit)
        if fired:
            decisions.record(conn, _trigger_rows(spec, sec, snap, ctx.now, fired))
        return fired

    return decide


def _trigger_rows(
    spec: RouteSpec, sec: str, snap: Snapshot, now: float, fired: list[dict[str, Any]]
) -> list[decisions.Decision]:
    uid, ses = snap.identity.uid, snap.identity.ses
    return [
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
        for c in fired
    ]
