"""``POST /admin/storage/acknowledge``: the operator has seen the corrupt databases moved aside.

Until then ``/status`` lists them under ``storage.incidents`` (``storage/recovery.py``);
``edge-agent storage acknowledge`` does the same from the command line.
"""

from __future__ import annotations

from aiohttp import web

from edge_agent.agent.keys import clock_key, db_key
from edge_agent.agent.services import json_response
from edge_agent.storage import recovery


async def acknowledge(request: web.Request) -> web.Response:
    now = request.app[clock_key].now()
    count = await request.app[db_key].write(lambda conn: recovery.acknowledge(conn, now))
    return json_response({"ok": True, "acknowledged": count})
