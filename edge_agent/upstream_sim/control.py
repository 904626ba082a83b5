"""The control API under ``/sim/``: statistics, what was received, faults, identity remaps, bundles, reset.

Never authenticated and never subject to faults: it is how a test or a person steers the simulator.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_agent.upstream_sim.bundles import BundleConflict
from edge_agent.upstream_sim.faults import FaultConfig
from edge_agent.upstream_sim.shared import (
    error_response,
    json_response,
    read_json,
    sim_key,
    validation_errors,
)

M = TypeVar("M", bound=BaseModel)


class IdentityConfig(BaseModel):
    """``{"uidMap": {"<local uid>": "<central uid>"}}``."""

    model_config = ConfigDict(extra="forbid")

    uidMap: dict[str, str] = Field(default_factory=dict)


def _unprocessable(exc: ValueError) -> web.Response:
    return error_response(422, validation_errors(exc) if isinstance(exc, ValidationError) else [str(exc)])


async def _body_as(request: web.Request, model: type[M]) -> M | web.Response:
    """The JSON body validated as ``model``, or the 422 answer naming what is wrong."""
    try:
        return model.model_validate(await read_json(request))
    except ValueError as exc:
        return _unprocessable(exc)


async def stats(request: web.Request) -> web.Response:
    """``GET /sim/stats[?detail=1]``: per-agent accounting, calls per route, injected faults by kind."""
    sim = request.app[sim_key]
    detail = request.query.get("detail", "") not in ("", "0", "false")
    body = await sim.store.stats(detail=detail)
    body["faults"] = dict(sorted(sim.faults.counts.items()))
    return json_response(body)


async def received(request: web.Request) -> web.Response:
    """``GET /sim/received[?agent=ID]``: ``{"items": [...]}``, unique items in arrival order."""
    items = await request.app[sim_key].store.received(request.query.get("agent"))
    return json_response({"items": items})


async def arrivals(request: web.Request) -> web.Response:
    """``GET /sim/arrivals``: calls per second on the data routes, accepted plus refused by the rate
    limit (``ratelimit.ArrivalLimiter.report``), on the upstream's clock."""
    return json_response(request.app[sim_key].limiter.report())


async def reset(request: web.Request) -> web.Response:
    """``POST /sim/reset``: forget what was received, the arrivals, the fault counts and the uid map;
    restore the fault configuration given at start. Bundle files are left alone."""
    sim = request.app[sim_key]
    await sim.store.reset()
    sim.faults.reset()
    sim.uid_map.clear()
    sim.limiter.reset()
    return json_response({"ok": True})


async def get_faults(request: web.Request) -> web.Response:
    return json_response(request.app[sim_key].faults.config.public())


async def set_faults(request: web.Request) -> web.Response:
    """``POST /sim/faults``: replace the whole fault configuration (``{}`` = no faults); re-seeds."""
    sim = request.app[sim_key]
    config = await _body_as(request, FaultConfig)
    if isinstance(config, web.Response):
        return config
    sim.faults.configure(config)
    return json_response(config.public())


async def get_identity(request: web.Request) -> web.Response:
    return json_response({"uidMap": request.app[sim_key].uid_map})


async def set_identity(request: web.Request) -> web.Response:
    """``POST /sim/identity``: replace the uid remap; replays of a mapped uid are answered with its target."""
    sim = request.app[sim_key]
    config = await _body_as(request, IdentityConfig)
    if isinstance(config, web.Response):
        return config
    sim.uid_map.clear()
    sim.uid_map.update(config.uidMap)
    return json_response({"uidMap": sim.uid_map})


async def list_bundles(request: web.Request) -> web.Response:
    """``GET /sim/bundles``: ``{"current": version|null, "versions": [{"version", "file"}]}``,
    oldest first."""
    versions = await asyncio.to_thread(request.app[sim_key].bundles.versions)
    return json_response(
        {
            "current": versions[-1].version if versions else None,
            "versions": [{"version": v.version, "file": v.file} for v in versions],
        }
    )


async def add_bundle(request: web.Request) -> web.Response:
    """``POST /sim/bundles`` with a full bundle: it becomes the current version. 201 ``{"version", "file"}``;
    422 without a string version; 409 when the version exists or the file would not sort last."""
    sim = request.app[sim_key]
    try:
        bundle = await read_json(request)
        if not isinstance(bundle, dict):
            raise ValueError("a bundle is a JSON object")
        added = await asyncio.to_thread(sim.bundles.add, bundle)
    except ValueError as exc:
        return _unprocessable(exc)
    except BundleConflict as exc:
        return error_response(409, str(exc))
    return json_response({"version": added.version, "file": added.file}, status=201)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/sim/stats", stats)
    app.router.add_get("/sim/received", received)
    app.router.add_get("/sim/arrivals", arrivals)
    app.router.add_post("/sim/reset", reset)
    app.router.add_get("/sim/faults", get_faults)
    app.router.add_post("/sim/faults", set_faults)
    app.router.add_get("/sim/identity", get_identity)
    app.router.add_post("/sim/identity", set_identity)
    app.router.add_get("/sim/bundles", list_bundles)
    app.router.add_post("/sim/bundles", add_bundle)
