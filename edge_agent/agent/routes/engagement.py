"""``GET /engagement`` — an engagement hit from a URL the agent minted: recorded durably, queued, 204.

The same ``(type, decisionId, contentId, slotId)`` within 5 s counts once (Android and iOS fire close
twice). A hit for a decision the agent does not know is still recorded, flagged — never lose a hit.
The first ``impression``/``visible_impression`` hit of a decision's content marks the decision impressed,
which is what ``countOn: impression`` frequency caps count.
"""

from __future__ import annotations

import sqlite3

from aiohttp import web

from edge_agent.agent.decide.content import IMPRESSION_CODES
from edge_agent.agent.keys import metrics_key
from edge_agent.agent.routes.common import services
from edge_agent.errors import ParameterError
from edge_agent.storage import engagements, outbox
from edge_agent.storage.decisions import engagement_hit
from edge_agent.storage.engagements import Hit


def parse_decision_id(decision_id: str) -> tuple[str, str | None]:
    """``gf:<sec>:<uid>:<unix seconds>`` → (sec, uid); an unknown shape keeps the whole id as sec-less."""
    parts = decision_id.split(":")
    if len(parts) >= 4 and parts[0] == "gf":
        return parts[1], ":".join(parts[2:-1])
    return "", None


async def engagement(request: web.Request) -> web.Response:
    svc = services(request)
    query = request.rel_url.query
    missing = [name for name in ("type", "decisionId") if not query.get(name)]
    if missing:
        raise ParameterError("Parameter error", errors=[f"query.{name}: Field required" for name in missing])
    hit = Hit(
        type=query["type"],
        decision_id=query["decisionId"],
        content_id=query.get("contentId", ""),
        slot_id=query.get("slotId", ""),
        str_id=query.get("strId"),
        query=request.rel_url.raw_query_string,
    )
    sec, uid = parse_decision_id(hit.decision_id)
    if sec:
        svc.check_section(sec)
    now = svc.clock.now()

    def write(conn: sqlite3.Connection) -> bool:
        if engagements.is_duplicate(conn, hit, now):
            return False
        # A product slot's hit is about the product, not an impression of the content.
        impression = hit.type in IMPRESSION_CODES and not hit.slot_id
        known = engagement_hit(conn, hit.decision_id, hit.content_id, impression, now)
        engagements.record(conn, hit, now, known_decision=known)
        outbox.enqueue(conn, sec=sec, method="GET", path="/engagement", body=hit.query, uid=uid, now=now)
        return True

    if not await svc.db.write(write):
        request.app[metrics_key].engagement_duplicates.inc()
    return web.Response(status=204)
