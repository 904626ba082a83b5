"""Retention forgets old history, scores, engagement hits and trigger rows, and keeps /choose decisions and
recent rows."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp.test_utils import TestClient

from edge_agent.agent.keys import clock_key, db_key
from edge_agent.agent.maintenance import retention_key
from edge_agent.clock import ManualClock
from edge_agent.storage.retention import RetentionJob
from tests.helpers import db_count, db_rows, envelope

DAY = 86400


async def test_retention_prunes_old_rows_only(client: TestClient, clock: ManualClock, tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    assert client.app[clock_key] is clock
    user = (await (await client.post("/visit", json=envelope())).json())["user"]
    product_view = envelope(user, ctx={"type": "PRODUCT", "data": ["sku-1001"], "location": "app://p"})
    await client.post("/visit", json=product_view)
    await client.post("/visit", json=envelope(user))  # the demo's third visit fires cmp_survey01
    await client.get(f"/engagement?type=WIMP&decisionId=gf:s:{user['uid']}:1&contentId=c1")
    await client.post("/choose", json=envelope(user, data=[{"group": "home_slider"}]))
    chosen = "SELECT COUNT(*) FROM decisions WHERE route = '/choose'"
    assert db_rows(db, chosen)[0][0] == 2 and db_count(db, "decisions") == 3
    assert db_count(db, "item_scores") == 1

    clock.advance(200 * DAY)  # past retention.history_days (180)
    fresh = (await (await client.post("/visit", json=envelope(user))).json())["user"]
    removed = await client.app[retention_key].run()
    assert removed == {"history": 3, "engagements": 1, "triggers": 1}
    assert db_count(db, "history") == 1  # the fresh visit stays
    assert db_count(db, "item_scores") == 0 and db_count(db, "profile_views") == 0
    assert db_rows(db, chosen)[0][0] == 2  # caps and stickiness have no window
    assert fresh["uid"] == user["uid"]


async def test_the_daemon_prunes_by_itself_apart_from_sync(
    client: TestClient, clock: ManualClock, tmp_path: Path
) -> None:
    job = client.app[retention_key]
    assert job._task is not None and not job._task.done()  # started with the app, without an upstream
    user = (await (await client.post("/visit", json=envelope())).json())["user"]
    assert db_count(tmp_path / "agent.db", "history") == 1
    clock.advance(200 * DAY)

    quick = RetentionJob(client.app[db_key], clock, 180, interval_s=0.01)
    quick.start()
    try:
        for _ in range(200):
            if db_count(tmp_path / "agent.db", "history") == 0:
                break
            await asyncio.sleep(0.01)
    finally:
        await quick.stop()
    assert db_count(tmp_path / "agent.db", "history") == 0, user
