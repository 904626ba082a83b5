"""App traffic for the status page tests: SDK calls through the real routes that leave decisions of every
route, an engagement hit and rows in the queue; and a dead letter with an upstream's raw JSON error."""

from __future__ import annotations

import sqlite3

from aiohttp.test_utils import TestClient

from edge_agent.agent.keys import db_key
from edge_agent.clock import ManualClock
from tests.agent.campaign_kit import choose, engagement_url, event, hit, payloads, visit

PURCHASE = {"type": "purchase-v1", "name": "Purchase", "value": 12, "cart": []}
HOSTILE_ERROR = '422: {"ok":false,"errors":["<script>alert(1)</script> sec is unknown"],"trace":"x"}'


async def app_traffic(client: TestClient, clock: ManualClock) -> None:
    """Six SDK requests: a /visit decision (the demo's survey), an /event decision (its purchase
    campaign), three /choose decisions and one engagement hit of the first slide."""
    me = (await visit(client))["user"]
    await visit(client, me)  # the second visit fires cmp_survey01
    clock.advance(1)
    await event(client, me, PURCHASE)  # fires cmp_thanks01
    clock.advance(1)
    await choose(client, me, {"campaignId": "cmp_thanks01"})
    slides = payloads(await choose(client, me, {"group": "home_slider"}))
    await hit(client, engagement_url(slides[0], "impression"))


async def add_dead_letter(client: TestClient, error: str = HOSTILE_ERROR) -> None:
    """The oldest queued row dead, as after the upstream refused it with ``error`` (its raw answer)."""

    def write(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE outbox SET state = 'dead', last_status = 422, last_error = ? "
            "WHERE seq = (SELECT MIN(seq) FROM outbox WHERE state = 'pending')",
            (error,),
        )

    await client.app[db_key].write(write)
