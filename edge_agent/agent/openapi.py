"""``GET /openapi.json``: an OpenAPI 3.1 description of every route, generated from the pydantic models.

Request bodies come from the route table's SDK entries (their ``agent/wire.py`` model) and
``agent/api_models.py`` (operator), answers from ``agent/api_models.py``; ``model_json_schema``'s
definitions become ``components.schemas``. Each operation
lists the envelope errors it can answer. SDK routes appear at the root and under ``/v2``, as served.
Paths come from the route table (``agent/routes/table.py``), so a registered route cannot be left out;
``OPERATIONS`` adds each one's models and a test requires an entry for every table route.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from edge_agent import __version__
from edge_agent.agent import api_models as am
from edge_agent.storage.bundles import Bundle

if TYPE_CHECKING:
    from edge_agent.agent.routes.table import Route

REF = "#/components/schemas/{model}"
SDK_PREFIXES = ("", "/v2")


@dataclass(frozen=True)
class Query:
    name: str
    schema: dict[str, Any]
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Operation:
    summary: str
    answer: type[BaseModel] | None  # None: no JSON answer (204, text)
    request: type[BaseModel] | None = None
    status: int = 200
    media: str = "application/json"
    query: tuple[Query, ...] = ()
    extra_errors: dict[int, str] = field(default_factory=dict)


_STATE = Query("state", {"type": "string", "enum": ["pending", "delivered", "dead"]})

OPERATIONS: dict[tuple[str, str], Operation] = {
    # An SDK body route's request model is its table entry's (``agent/routes/table.py``).
    ("POST", "/visit"): Operation("Store a visit; the campaigns PAGELOAD fires", am.CampaignsAnswer),
    ("POST", "/event"): Operation("Store events; the campaigns EVENT fires", am.CampaignsAnswer),
    ("POST", "/choose"): Operation("Content by selector, campaignId or group", am.ChooseAnswer),
    ("POST", "/user"): Operation("Get or store a user", am.UserAnswer),
    ("POST", "/strategy"): Operation("Recommendations from strategies", am.StrategyAnswer),
    ("GET", "/engagement"): Operation(
        "Record an engagement hit from a URL the agent minted",
        None,
        status=204,
        query=(
            Query("type", {"type": "string", "minLength": 1}, required=True),
            Query("decisionId", {"type": "string", "minLength": 1}, required=True),
            Query("contentId", {"type": "string"}),
            Query("slotId", {"type": "string"}),
            Query("strId", {"type": "string"}),
        ),
    ),
    ("GET", "/healthz"): Operation("Liveness", am.Ok),
    ("GET", "/readyz"): Operation(
        "Readiness: storage open and taking writes, a bundle loaded", am.ReadyAnswer
    ),
    ("GET", "/openapi.json"): Operation("This document", None),
    ("GET", "/status"): Operation("Queue, sync, bundle and storage state", am.StatusAnswer),
    ("GET", "/metrics"): Operation("Prometheus metrics", None, media="text/plain"),
    ("GET", "/"): Operation("Status page for a person at the device", None, media="text/html"),
    ("GET", "/admin/queue"): Operation(
        "Queue rows and summary",
        am.QueueAnswer,
        query=(_STATE, Query("limit", {"type": "integer", "minimum": 1, "maximum": 1000})),
    ),
    ("POST", "/admin/queue/retry"): Operation(
        "Move dead-letter rows back to pending", am.RetriedAnswer, am.QueueRetryIn
    ),
    ("POST", "/admin/storage/acknowledge"): Operation(
        "Mark the moved-aside corrupt databases shown in /status as seen", am.AcknowledgedAnswer
    ),
    ("POST", "/admin/queue/purge"): Operation("Delete queue rows", am.PurgedAnswer, am.QueuePurgeIn),
    ("POST", "/admin/bundle"): Operation("Validate, store and activate a bundle", am.BundleAnswer, Bundle),
    ("POST", "/admin/sync"): Operation(
        "Run push and pull now",
        am.SyncNowAnswer,
        extra_errors={409: "No upstream configured"},
    ),
    ("POST", "/admin/sync/resume"): Operation(
        "Lift the push pause of a sec (or of every sec)",
        am.ResumedAnswer,
        query=(Query("sec", {"type": "string"}),),
    ),
}


def _op(route: Route) -> Operation:
    return OPERATIONS.get((route.method, route.path)) or Operation(f"{route.method} {route.path}", None)


def _request(route: Route, op: Operation) -> type[BaseModel] | None:
    """The body model: an SDK route's from its table entry, an operator route's from its operation."""
    return route.sdk.model if route.sdk is not None else op.request


def _schemas(routes: Iterable[Route]) -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (am.ErrorEnvelope, "serialization")
    ]
    for route in routes:
        op = _op(route)
        if (request := _request(route, op)) is not None:
            models.append((request, "validation"))
        if op.answer is not None:
            models.append((op.answer, "serialization"))
    refs, defs = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    schemas: dict[str, Any] = defs.get("$defs", {})
    return dict(refs), schemas


def _error(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorEnvelope")}}},
    }
    if retry_after:
        response["headers"] = {
            "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}
        }
    return response


# Routes that answer without the storage: /status and /metrics say "unavailable" rather than fail.
_NO_STORAGE_ERRORS = frozenset({"/healthz", "/openapi.json", "/status", "/metrics"})


def _errors(method: str, path: str, op: Operation, request: type[BaseModel] | None) -> dict[str, Any]:
    out = {
        "403": _error("Refused: bearer token, Origin or Sec-Fetch-Site not accepted"),
        "421": _error("Host is not one of the agent's own names"),
    }
    if request is not None or method == "POST":
        out["413"] = _error("Body too large")
        out["415"] = _error("A write needs a JSON content type")
    if request is not None or op.query:
        out["422"] = _error("Parameter error; errors name the field")
    if path == "/readyz":
        out["503"] = _error("Not ready (storage degraded, no bundle); errors say why", retry_after=True)
    elif path not in _NO_STORAGE_ERRORS:
        out["503"] = _error("Storage unavailable; retry after Retry-After seconds", retry_after=True)
    out.update({str(code): _error(text) for code, text in op.extra_errors.items()})
    return out


def _operation(route: Route, path: str, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    method = route.method
    op = _op(route)
    request = _request(route, op)
    ok: dict[str, Any] = {"description": "OK" if op.status == 200 else "Recorded"}
    if op.answer is not None:
        ok["content"] = {op.media: {"schema": refs[(op.answer, "serialization")]}}
    elif op.status != 204:
        ok["content"] = {op.media: {"schema": {"type": "string"} if op.media != "application/json" else {}}}
    doc: dict[str, Any] = {
        "operationId": f"{method.lower()}{path.replace('/', '_').replace('.', '_') or '_root'}",
        "summary": op.summary,
        "tags": [route.access],
        "security": [] if route.access == "probe" else [{}, {"bearer": []}],
        "responses": {str(op.status): ok, **_errors(method, path, op, request)},
    }
    if op.query:
        doc["parameters"] = [
            {"name": q.name, "in": "query", "required": q.required, "schema": q.schema}
            | ({"description": q.description} if q.description else {})
            for q in op.query
        ]
    if request is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(request, "validation")]}},
        }
    return doc


def served_paths(route: Route) -> tuple[str, ...]:
    return tuple(prefix + route.path for prefix in SDK_PREFIXES) if route.access == "sdk" else (route.path,)


def build_document(routes: Iterable[Route]) -> dict[str, Any]:
    routes = list(routes)
    refs, defs = _schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        for path in served_paths(route):
            paths.setdefault(path, {})[route.method.lower()] = _operation(route, path, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "edge-agent",
            "version": __version__,
            "description": "The personalization SDK API on localhost, and the operator API.",
        },
        "servers": [{"url": "http://127.0.0.1:8787"}],
        "tags": [
            {"name": "sdk", "description": "SDK routes; a bearer key once auth.api_keys is set"},
            {"name": "probe", "description": "Open to every caller the Host and Origin rules admit"},
            {"name": "operator", "description": "server.admin_token, or loopback callers without one"},
        ],
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@cache
def document_bytes() -> bytes:
    from edge_agent.agent.routes.table import ROUTES  # the table imports this module's handler

    return orjson.dumps(build_document(ROUTES))


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=document_bytes(), content_type="application/json")
