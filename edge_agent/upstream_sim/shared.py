"""What every handler module shares: the app state under one ``AppKey``, and JSON answers."""

from __future__ import annotations

import http
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError

from edge_agent.clock import Clock
from edge_agent.upstream_sim.bundles import BundleDirectory
from edge_agent.upstream_sim.faults import FaultInjector
from edge_agent.upstream_sim.ratelimit import ArrivalLimiter
from edge_agent.upstream_sim.store import ReceivedStore


@dataclass(slots=True)
class SimState:
    """Everything one reference-upstream app owns. ``uid_map`` is local uid → central uid."""

    store: ReceivedStore
    faults: FaultInjector
    bundles: BundleDirectory
    keys: frozenset[str]
    clock: Clock
    limiter: ArrivalLimiter
    uid_map: dict[str, str] = field(default_factory=dict)


sim_key = web.AppKey("sim", SimState)


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, headers=headers, content_type="application/json"
    )


def error_response(
    status: int, message: str | list[str], headers: Mapping[str, str] | None = None
) -> web.Response:
    """The agent's error envelope (agent-api §6), so a client can parse both the same way."""
    try:
        title = http.HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = {
        "ok": False,
        "status": status,
        "error": title,
        "errors": [message] if isinstance(message, str) else message,
    }
    return json_response(body, status=status, headers=headers)


def validation_errors(exc: ValidationError) -> list[str]:
    """One ``"loc: msg"`` string per problem."""
    return [
        f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}" for error in exc.errors()
    ]


async def read_json(request: web.Request) -> Any:
    """The body parsed as JSON whatever the Content-Type; ValueError when it is not JSON."""
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
