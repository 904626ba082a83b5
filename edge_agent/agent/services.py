"""What every SDK route does around its own logic: read the body, resolve who is calling, build the
evaluation context, and shape the response ``user``.

Handlers stay thin: parse once → ``track`` (one durable write, the route deciding inside it) → respond.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

import orjson
from aiohttp import web
from pydantic import BaseModel

from edge_agent.agent.bundles import BundleHolder, LoadedBundle
from edge_agent.agent.decide.compiled import capped_for
from edge_agent.agent.decide.context import EvalContext
from edge_agent.agent.decide.facts import device_info, traffic_source
from edge_agent.agent.decide.profile import affinity, cart_facts, profile_facts
from edge_agent.agent.decide.recommend import Recommender
from edge_agent.agent.decide.segments import SegmentCache
from edge_agent.agent.wire import Envelope, EventIn, parse_body, parse_json
from edge_agent.clock import Clock
from edge_agent.config.settings import Settings
from edge_agent.errors import Forbidden, PayloadTooLarge
from edge_agent.storage import caps
from edge_agent.storage.caps import CapCheck
from edge_agent.storage.database import Database
from edge_agent.storage.profiles import IdentityRequest, SessionPolicy
from edge_agent.storage.route_spec import RouteSpec
from edge_agent.storage.tracking import Snapshot, TrackRequest, track

M = TypeVar("M", bound=BaseModel)


E = TypeVar("E", bound=Envelope)


@dataclass(frozen=True, slots=True)
class SdkRoute(Generic[E]):
    """An SDK route's table entry as its handler sees it: what the route means and what it parses."""

    spec: RouteSpec
    model: type[E]


# ``handler(entry, request)``: the table binds each SDK handler to its entry.
SdkHandler = Callable[[SdkRoute[E], web.Request], Awaitable[web.Response]]

T = TypeVar("T")
# A route's decisions, run inside its write: what it answers, recorded on ``conn`` when it records any.
Decide = Callable[[sqlite3.Connection, "Snapshot", EvalContext], T]


@dataclass(slots=True)
class Tracked(Generic[T]):
    """What a request's one write returns: the snapshot, the evaluation context and the decisions."""

    snap: Snapshot
    ctx: EvalContext
    decided: T


def no_decisions(conn: sqlite3.Connection, snap: Snapshot, ctx: EvalContext) -> None:
    """For a route that decides nothing."""


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _local_tz(name: str | None) -> tzinfo | None:
    return ZoneInfo(name) if name else None


class Services:
    """Per-app helpers shared by the SDK routes."""

    def __init__(self, settings: Settings, db: Database, bundles: BundleHolder, clock: Clock) -> None:
        self.settings = settings
        self.db = db
        self.bundles = bundles
        self.clock = clock
        self.policy = SessionPolicy(
            idle_timeout_s=settings.session.idle_timeout_s,
            cold_start_window_s=settings.session.cold_start_window_s,
        )
        self.tz = _local_tz(settings.decision.timezone)
        self.base_url = settings.public_url
        self.sections = frozenset(settings.auth.sections)
        self.recommender = Recommender(self.base_url, db)

    # -- input ---------------------------------------------------------------------------------------

    async def read_body(self, request: web.Request) -> bytes:
        """The body, refused (413) above ``server.max_body_bytes``."""
        limit = self.settings.server.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge(f"body: larger than {limit} bytes")
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise PayloadTooLarge(f"body: larger than {limit} bytes") from None

    async def read_json(self, request: web.Request) -> dict[str, Any]:
        """The body as a JSON object within ``server.max_json_depth``: how every route reads a body."""
        return parse_json(await self.read_body(request), self.settings.server.max_json_depth)

    async def read(self, request: web.Request, sdk: SdkRoute[E]) -> tuple[dict[str, Any] | None, E]:
        """The body validated as the route's model in one pass, and the body as sent when the route may
        replay it (``None`` otherwise)."""
        body = await self.read_body(request)
        depth = self.settings.server.max_json_depth
        raw, parsed = parse_body(sdk.model, body, depth, keep=sdk.spec.may_replay)
        self.check_section(parsed.sec)
        return raw, parsed

    def check_section(self, sec: str | None) -> None:
        if self.sections and sec not in self.sections:
            raise Forbidden(f"sec: {sec!r} is not served by this agent")

    # -- the durable step ----------------------------------------------------------------------------

    async def track(
        self,
        spec: RouteSpec,
        raw: dict[str, Any] | None,
        env: Envelope,
        *,
        loaded: LoadedBundle,
        events: Sequence[EventIn] = (),
        sent_events: list[dict[str, Any]] | None = None,
        decide: Decide[T],
    ) -> Tracked[T]:
        """The request's one write: track it (``storage/tracking.track``), build its evaluation context
        and run ``decide`` — all on the writer thread, in one SAVEPOINT of the group transaction — and
        return once that committed. What ``decide`` records (decisions, assignments) commits with the
        tracking, and the cap counts it checks were read in the same transaction, after every write
        before it: two calls for one profile cannot both pass a cap."""
        now = self.clock.now()
        req = TrackRequest(
            spec=spec,
            sec=env.sec,
            identity=IdentityRequest(
                uid=env.user.uid,
                custom=env.user.custom,
                ses=env.user.ses,
                device_id=env.device.id.lower() if env.device.id else None,
                attributes=env.user.attributes,
                traffic_source=traffic_source(env.ctx.utm, env.ctx.referrer),
            ),
            body=raw,
            page=env.ctx,
            ctx=env.ctx_data,
            events=events,
            sent_events=sent_events or [],
            history_days=loaded.compiled.history_days,
            history_types=loaded.compiled.history_types,
            history_bodies=loaded.compiled.history_bodies,
            want_counters=env.options.is_return_counter,
            tz=self.tz,
            capped=capped_for(loaded.compiled, spec.trigger, (e.get("type") for e in sent_events or ())),
        )

        def write(conn: sqlite3.Connection) -> Tracked[T]:
            snap = track(conn, req, now, self.policy)
            ctx = self.context(snap, env, loaded)
            return Tracked(snap, ctx, decide(conn, snap, ctx))

        return await self.db.write(write)

    # -- decisions -----------------------------------------------------------------------------------

    @staticmethod
    def caps(snap: Snapshot) -> CapCheck:
        """The frequency-cap check for this request, from the counts read in its write."""
        return caps.check(snap.caps)

    def context(self, snap: Snapshot, env: Envelope, loaded: LoadedBundle) -> EvalContext:
        now = self.clock.now()
        ident = snap.identity
        device = device_info(env.device.ua)
        ctx = EvalContext(
            now=now,
            local_time=datetime.fromtimestamp(now, self.tz).astimezone(self.tz),
            user={
                "uid": ident.uid,
                "ses": ident.ses,
                "custom": ident.custom,
                "attributes": ident.attributes,
                "isNew": ident.is_new,
            },
            ctx=env.ctx_data,
            device={
                **device,
                "tracking": env.device.tracking,
                "permission": env.device.permission,
            },
            traffic_source=ident.traffic_source,
            session={
                "pageviews": ident.session_pageviews,
                "events": ident.session_events,
                "ageSeconds": max(0.0, now - ident.session_started_at),
            },
            profile={
                "visits": ident.visits,
                "daysSinceFirstSeen": math.floor(max(0.0, now - ident.first_seen) / 86400),
                **profile_facts(snap.state, now),
            },
            cart=cart_facts(snap.state),
            history=snap.history,
        )
        SegmentCache.attach(loaded.compiled.segments, loaded.compiled.list_dependent, ctx)
        return ctx

    # -- output --------------------------------------------------------------------------------------

    def user_out(self, snap: Snapshot, env: Envelope, ctx: EvalContext | None) -> dict[str, Any]:
        ident = snap.identity
        out: dict[str, Any] = {"uid": ident.uid, "ses": ident.ses}
        if env.options.is_return_user_info and ctx is not None:
            out.update(self.user_info(snap, ctx))
        if env.options.is_return_counter:
            out["counters"] = snap.counters or {}
        return out

    def user_info(self, snap: Snapshot, ctx: EvalContext) -> dict[str, Any]:
        ident = snap.identity
        loaded = self.bundles.current
        listed = ctx.segment_list() if callable(ctx.segment_list) else ctx.segment_list
        segment_ids = list(listed or [])
        catalog = loaded.compiled.catalog if loaded is not None else {}
        geo = self.settings.geo
        info: dict[str, Any] = {
            "attributes": ident.attributes,
            "segments": segment_ids,
            "details": {
                "slid": ident.ses,
                "deviceInfo": {k: ctx.device.get(k) for k in ("brand", "type", "browser", "os")},
                "trafficSource": ident.traffic_source or "Direct",
                "geo": {
                    "country": geo.country,
                    "countryIso": geo.country_iso,
                    "region": geo.region,
                    "regionIso": geo.region_iso,
                    "city": geo.city,
                    "cityId": geo.city_id,
                },
                "isNew": ident.is_new,
                "affinity": affinity(snap.state, catalog, ctx.now),
            },
        }
        if ident.custom is not None:
            info["custom"] = ident.custom
        return info
