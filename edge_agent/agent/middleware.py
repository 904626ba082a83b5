"""Middlewares: one error envelope, route matching and bearer auth.

Order (outermost first): observe (``agent/observe.py``: request id, metrics, access log) → errors →
route → cross-site (``agent/cross_site.py``) → auth.
Handlers raise ``EdgeAgentError``s; only ``errors`` renders them, as
``{"ok": false, "status", "error", "errors": ["loc: msg"]}`` (agent-api §6).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from edge_agent.agent.keys import request_id_key, settings_key
from edge_agent.agent.routes import table
from edge_agent.agent.services import json_response
from edge_agent.config.settings import is_loopback
from edge_agent.errors import EdgeAgentError, Forbidden, PayloadTooLarge, StorageUnavailable

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_body(status: int, title: str, errors: list[str]) -> dict[str, object]:
    return {"ok": False, "status": status, "error": title, "errors": errors}


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except StorageUnavailable as exc:
        log.warning("storage unavailable on %s %s: %s", request.method, request.path, exc)
        response = json_response(error_body(exc.status, exc.title, exc.errors), status=exc.status)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except EdgeAgentError as exc:
        return json_response(error_body(exc.status, exc.title, exc.errors), status=exc.status)
    except web.HTTPRequestEntityTooLarge:
        err = PayloadTooLarge("body: too large")
        return json_response(error_body(err.status, err.title, err.errors), status=err.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = json_response(error_body(exc.status, exc.reason, [exc.reason]), status=exc.status)
        if "Allow" in exc.headers:  # a 405 says which methods the path takes (RFC 9110 §15.5.6)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except ConnectionError:
        raise  # the client hung up: not an error; the server's protocol logs it at debug (agent/server.py)
    except Exception:
        rid = request[request_id_key]
        log.exception("unhandled error on %s %s (request %s)", request.method, request.path, rid)
        return json_response(
            error_body(500, "Server error", [f"internal error; request id {rid}"]), status=500
        )


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _matches(token: str | None, accepted: list[str]) -> bool:
    return token is not None and any(hmac.compare_digest(token, key) for key in accepted)


@web.middleware
async def route_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Match the request to its table entry once; the checks after it and the SDK dispatcher read it."""
    route = table.match(request)
    if route is not None:
        request[table.entry_key] = route
    return await handler(request)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Decide from the matched table entry's access class (``agent/routes/table.py``), never the path."""
    route = table.matched(request)
    access = route.access if route is not None else "sdk"  # an unknown route is refused like the SDK's
    if access == "operator":
        _check_operator(request, person=route is not None and route.person)
    elif access == "sdk":
        keys = [k.get_secret_value() for k in request.app[settings_key].auth.api_keys]
        if keys and not _matches(_bearer(request), keys):
            raise Forbidden("Authorization: bearer token not accepted")
    return await handler(request)


def _check_operator(request: web.Request, *, person: bool) -> None:
    """Without ``server.admin_token`` operator routes serve loopback callers only; with it, every caller
    needs the bearer, except a person's page (the status page) opened on loopback: a browser sends none."""
    loopback = is_loopback(request.remote or "")
    if person and loopback:
        return
    admin = request.app[settings_key].server.admin_token
    if admin is None:
        if not loopback:
            raise Forbidden("Authorization: without server.admin_token, only loopback callers")
        return
    if not _matches(_bearer(request), [admin.get_secret_value()]):
        raise Forbidden("Authorization: a valid admin bearer token is required")
