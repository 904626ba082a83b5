"""The push side: replayed SDK calls (``POST /visit|/event|/user``, ``GET /engagement``, also under ``/v2``)
and ``POST /edge/v1/batch``. Both turn what arrives into :class:`Item` s and account them the same way.

Validation follows the central API where it matters to the agent: a POST body must be a JSON object with a
string ``sec``; ``/event`` needs a non-empty ``data`` list of objects with a string ``type``; engagement
needs ``type`` and ``decisionId``. Anything else is answered 422 and not recorded. Call-level faults
(latency, reset, outage, auth, ``statusForPaths``, ``errorRate`` on replay) are applied by the app's
middleware before these handlers run; item-level ones (``forbidSecs``, ``rejectEventTypes``, and
``errorRate`` per batch item) here, before anything is recorded.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from edge_agent.upstream_sim.faults import canonical_route
from edge_agent.upstream_sim.shared import error_response, json_response, read_json, sim_key
from edge_agent.upstream_sim.store import Item

REPLAY_ROUTES = {"/visit": "POST", "/event": "POST", "/user": "POST", "/engagement": "GET"}
"""Canonical replay route → its method."""

BATCH_MAX_ITEMS = 500
BATCH_MAX_BYTES = 512 * 1024


class ItemRejected(Exception):
    """An item the central API would refuse; ``status`` is the answer (404, 405 or 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_seq(value: Any) -> int | None:
    """An integer sequence number from a header or JSON value; None when absent or not an integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def build_item(
    *, id: str, agent: str, seq: int | None, method: str, path: str, body: Any,
    agent_received_at: str | None = None, via: str = "replay",
) -> Item:  # fmt: skip
    """Validate one call and derive what is accounted (sec, uid, event types). Raises ItemRejected.

    For engagement ``body`` is the query as a dict; a query string on ``path`` is merged into it.
    """
    route = canonical_route(path)
    expected = REPLAY_ROUTES.get(route)
    if expected is None:
        raise ItemRejected(404, f"unknown path {path!r}")
    if method.upper() != expected:
        raise ItemRejected(405, f"{route} takes {expected}, not {method}")
    sec = uid = None
    event_types: list[str] = []
    if route == "/engagement":
        query = dict(parse_qsl(path.partition("?")[2])) | (body if isinstance(body, dict) else {})
        if not isinstance(query.get("type"), str) or not isinstance(query.get("decisionId"), str):
            raise ItemRejected(422, "engagement needs type and decisionId")
        body, event_types = query, [query["type"]]
        # decisionId is gf:<sec>:<uid>:<unix seconds> (agent-api §5).
        parts = query["decisionId"].split(":")
        if len(parts) >= 3 and parts[0] == "gf":
            sec, uid = parts[1], parts[2]
    else:
        if not isinstance(body, dict) or not isinstance(body.get("sec"), str):
            raise ItemRejected(422, "sec: a JSON object with a string sec is required")
        sec = body["sec"]
        user = body.get("user")
        uid = user.get("uid") if isinstance(user, dict) and isinstance(user.get("uid"), str) else None
        if route == "/event":
            data = body.get("data")
            if not (isinstance(data, list) and data) or not all(
                isinstance(entry, dict) and isinstance(entry.get("type"), str) for entry in data
            ):
                raise ItemRejected(422, "data: a non-empty list of objects with a string type is required")
            event_types = [entry["type"] for entry in data]
    return Item(
        id=id, agent=agent, seq=seq, method=expected, path=path.partition("?")[0], route=route, body=body,
        sec=sec, uid=uid, event_types=event_types, agent_received_at=agent_received_at, via=via,
    )  # fmt: skip


def user_answer(item: Item, uid_map: dict[str, str]) -> dict[str, str]:
    """The ``user`` the central API answers: the body's uid (remapped when told to) and session.

    A missing uid or ses is minted from the item id, so a duplicate gets the same answer.
    """
    user = item.body.get("user") if isinstance(item.body, dict) else None
    ses = user.get("ses") if isinstance(user, dict) else None
    digest = hashlib.sha256(item.id.encode()).hexdigest()
    uid = item.uid or digest[:24]
    if not isinstance(ses, str):
        ses = str(uuid.UUID(digest[:32], version=4))
    return {"uid": uid_map.get(uid, uid), "ses": ses}


async def replay(request: web.Request) -> web.StreamResponse:
    """One replayed SDK call: 200 ``{"user", "campaigns": []}`` for POSTs, 204 for engagement."""
    sim = request.app[sim_key]
    try:
        body = dict(request.query) if request.method == "GET" else await read_json(request)
        item = build_item(
            id=request.headers.get("Idempotency-Key") or uuid.uuid4().hex,
            agent=request.headers.get("X-Edge-Agent-Id", ""),
            seq=parse_seq(request.headers.get("X-Edge-Sequence")),
            method=request.method,
            path=request.path,
            body=body,
            agent_received_at=request.headers.get("X-Edge-Received-At"),
        )
    except ValueError as exc:
        return error_response(422, str(exc))
    except ItemRejected as exc:
        return error_response(exc.status, str(exc))
    status = sim.faults.item_status(item.route, item.sec, item.event_types, roll_error=False)
    if status is not None:
        return error_response(status, "injected by the reference upstream", sim.faults.retry_after(status))
    await sim.store.record([item], sim.clock.now())
    if item.route == "/engagement":
        return web.Response(status=204)
    return json_response({"user": user_answer(item, sim.uid_map), "campaigns": []})


def _batch_item(raw: Any, agent: str) -> Item:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
        raise ItemRejected(422, "id: a non-empty string is required")
    if not isinstance(raw.get("method"), str) or not isinstance(raw.get("path"), str):
        raise ItemRejected(422, "method and path: strings are required")
    received_at = raw.get("receivedAt")
    return build_item(
        id=raw["id"], agent=agent, seq=parse_seq(raw.get("seq")), method=raw["method"], path=raw["path"],
        body=raw.get("body"), agent_received_at=received_at if isinstance(received_at, str) else None,
        via="batch",
    )  # fmt: skip


async def batch(request: web.Request) -> web.StreamResponse:
    """``POST /edge/v1/batch``: ``{"agentId", "items": [...]}`` → ``{"results": [{"id", "status"}]}``.

    Results follow the items' order. Each item is answered as its single call would be (200, 204 for
    engagement, or the rejection/injected status); 2xx results for POST items also carry ``user``, the
    answer the replayed call would have had. 413 above 500 items or 512 KiB; 422 when the envelope is bad.
    """
    sim = request.app[sim_key]
    if (request.content_length or 0) > BATCH_MAX_BYTES:
        return error_response(413, f"a batch is at most {BATCH_MAX_BYTES} bytes")
    raw = await request.read()
    if len(raw) > BATCH_MAX_BYTES:
        return error_response(413, f"a batch is at most {BATCH_MAX_BYTES} bytes")
    try:
        envelope = await read_json(request)
    except ValueError as exc:
        return error_response(422, str(exc))
    if not isinstance(envelope, dict) or not isinstance(envelope.get("agentId"), str):
        return error_response(422, "agentId: a string is required")
    if not isinstance(envelope.get("items"), list):
        return error_response(422, "items: a list is required")
    if len(envelope["items"]) > BATCH_MAX_ITEMS:
        return error_response(413, f"a batch is at most {BATCH_MAX_ITEMS} items")
    status = sim.faults.error_status(batch=True)
    if status is not None:
        return error_response(status, "injected by the reference upstream", sim.faults.retry_after(status))

    results: list[dict[str, Any]] = []
    accepted: list[tuple[dict[str, Any], Item]] = []
    for raw_item in envelope["items"]:
        try:
            item = _batch_item(raw_item, envelope["agentId"])
        except ItemRejected as exc:
            item_id = raw_item.get("id") if isinstance(raw_item, dict) else None
            results.append({"id": item_id, "status": exc.status})
            continue
        status = sim.faults.item_status(item.route, item.sec, item.event_types, roll_error=True)
        results.append({"id": item.id, "status": status})
        if status is None:
            accepted.append((results[-1], item))
    if accepted:
        await sim.store.record([item for _, item in accepted], sim.clock.now())
    for result, item in accepted:
        if item.route == "/engagement":
            result["status"] = 204
        else:
            result.update(status=200, user=user_answer(item, sim.uid_map))
    return json_response({"results": results})
