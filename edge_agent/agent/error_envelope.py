"""The one error envelope: every refusal and failure a route answers, as ``{"ok": false, "status",
"error", "errors": ["loc: msg"]}`` (agent-api §6), with its status code.

Handlers and the pipeline's checks raise ``EdgeAgentError``s; :func:`render` is the only place that turns
an exception into an answer (the pipeline calls it, ``agent/pipeline.py``).
"""

from __future__ import annotations

import logging

from aiohttp import web

from edge_agent.agent.keys import request_id_key
from edge_agent.agent.services import json_response
from edge_agent.errors import EdgeAgentError, PayloadTooLarge, StorageUnavailable

log = logging.getLogger(__name__)


def error_body(status: int, title: str, errors: list[str]) -> dict[str, object]:
    return {"ok": False, "status": status, "error": title, "errors": errors}


def render(request: web.Request, exc: Exception) -> web.StreamResponse:
    """``exc`` as its envelope. Re-raised: a redirect (an ``HTTPException`` below 400) and a client that
    hung up (``ConnectionError``: not an error; the server's protocol logs it at debug)."""
    if isinstance(exc, StorageUnavailable):
        log.warning("storage unavailable on %s %s: %s", request.method, request.path, exc)
        response = json_response(error_body(exc.status, exc.title, exc.errors), status=exc.status)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, EdgeAgentError):
        return json_response(error_body(exc.status, exc.title, exc.errors), status=exc.status)
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        err = PayloadTooLarge("body: too large")
        return json_response(error_body(err.status, err.title, err.errors), status=err.status)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        response = json_response(error_body(exc.status, exc.reason, [exc.reason]), status=exc.status)
        if "Allow" in exc.headers:  # a 405 says which methods the path takes (RFC 9110 §15.5.6)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    if isinstance(exc, ConnectionError):
        raise exc
    rid = request[request_id_key]
    log.error("unhandled error on %s %s (request %s)", request.method, request.path, rid, exc_info=exc)
    return json_response(error_body(500, "Server error", [f"internal error; request id {rid}"]), status=500)
