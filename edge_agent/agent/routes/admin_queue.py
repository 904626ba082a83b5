"""Operator queue routes matching the CLI (agent-api §7): inspection and dead-letter retry/purge.

- ``GET  /admin/queue[?state=pending|delivered|dead&limit=N]`` → ``{summary, rows}``
- ``POST /admin/queue/retry`` ``{"ids": [...]}`` or ``{"all": true}`` → ``{retried}``
- ``POST /admin/queue/purge`` ``{"state": "dead"}`` and/or ``{"ids": [...]}`` → ``{purged}``
"""

from __future__ import annotations

from typing import Any, get_args

from aiohttp import web

from edge_agent.agent.keys import clock_key, db_key, services_key, sync_jobs_key
from edge_agent.agent.services import json_response
from edge_agent.errors import ParameterError
from edge_agent.storage import outbox_admin
from edge_agent.storage.outbox import queue_summary
from edge_agent.storage.outbox_admin import RowState

STATES: tuple[str, ...] = get_args(RowState)


def _state(value: Any) -> RowState | None:
    if value is None:
        return None
    if value not in STATES:
        raise ParameterError(f"state: must be one of {list(STATES)}")
    state: RowState = value
    return state


def _ids(body: dict[str, Any]) -> list[str] | None:
    ids = body.get("ids")
    if ids is None:
        return None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ParameterError("ids: must be a list of row ids (strings)")
    return ids


async def queue(request: web.Request) -> web.Response:
    state = _state(request.query.get("state"))
    try:
        limit = min(max(int(request.query.get("limit", "100")), 1), 1000)
    except ValueError:
        raise ParameterError("limit: must be an integer") from None
    now = request.app[clock_key].now()
    summary, rows = await request.app[db_key].read(
        lambda conn: (queue_summary(conn, now), outbox_admin.list_rows(conn, state, limit, with_body=True))
    )
    return json_response({"summary": summary, "rows": rows})


async def queue_retry(request: web.Request) -> web.Response:
    body = await request.app[services_key].read_json(request)
    ids = _ids(body)
    if ids is None and body.get("all") is not True:
        raise ParameterError('body: give "ids": [...] or "all": true')
    now = request.app[clock_key].now()
    retried = await request.app[db_key].write(lambda conn: outbox_admin.retry_dead(conn, ids, now))
    return json_response({"ok": True, "retried": retried})


async def queue_purge(request: web.Request) -> web.Response:
    body = await request.app[services_key].read_json(request)
    state, ids = _state(body.get("state")), _ids(body)
    if state is None and ids is None:
        raise ParameterError('body: give "state" and/or "ids"')
    drainer = request.app[sync_jobs_key].drainer
    if drainer is not None:
        purged = await drainer.purge(state=state, ids=ids)  # also counted in dropped{reason="operator"}
    else:
        purged = await request.app[db_key].write(lambda conn: outbox_admin.purge(conn, state=state, ids=ids))
    return json_response({"ok": True, "purged": purged})
