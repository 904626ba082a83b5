"""What is queued for the upstream: the resolved user, receive-time stamps, one row per accepted write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from aiohttp.test_utils import TestClient

from edge_agent.clock import ManualClock
from edge_agent.storage.values import rfc3339
from tests.helpers import db_rows, envelope


def outbox(db: Path) -> list[dict[str, Any]]:
    return [dict(r) for r in db_rows(db, "SELECT * FROM outbox ORDER BY seq")]


async def test_event_row_carries_resolved_user_and_receive_times(
    client: TestClient, tmp_path: Path, clock: ManualClock
) -> None:
    db = tmp_path / "agent.db"
    events = [
        {"type": "add-to-cart-v1", "name": "Add to Cart", "productId": 1001, "value": 10, "quantity": 1},
        {"type": "login-v1", "name": "Login", "eventTime": "2026-01-02T03:04:05Z", "cuid": None},
    ]
    resp = await client.post("/event", json=envelope(data=events))
    user = (await resp.json())["user"]
    (row,) = outbox(db)
    assert (row["method"], row["path"], row["state"], row["uid"]) == (
        "POST",
        "/event",
        "pending",
        user["uid"],
    )
    assert len(row["id"]) == 36 and row["id"][14] == "7"  # UUIDv7
    body = orjson.loads(row["body"])
    assert body["user"] == {"uid": user["uid"], "ses": user["ses"]}
    assert body["device"]["userTime"] == rfc3339(clock.now())
    assert body["data"][0]["eventTime"] == body["device"]["userTime"]
    assert body["data"][1]["eventTime"] == "2026-01-02T03:04:05Z"  # the app's own time is kept
    assert "cuid" not in body["data"][1]  # null ≡ absent
    assert body["data"][0]["productId"] == 1001  # the body is replayed as sent


async def test_each_accepted_write_is_one_row_with_increasing_seq(client: TestClient, tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    user = (await (await client.post("/visit", json=envelope())).json())["user"]
    await client.post("/event", json=envelope(user, data=[{"type": "a"}, {"type": "b"}]))
    await client.post("/choose", json=envelope(user, data=[{"selector": "home_banner"}]))  # reads: not queued
    await client.post("/user", json=envelope(user))  # no change: not queued
    await client.post("/user", json=envelope({**user, "attributes": {"tier": "gold"}}))
    hit = await client.get("/v2/engagement?type=WRIMP&decisionId=gf:s1:" + user["uid"] + ":1&contentId=c1")
    assert hit.status == 204
    rows = outbox(db)
    assert [(r["method"], r["path"]) for r in rows] == [
        ("POST", "/visit"),
        ("POST", "/event"),
        ("POST", "/user"),
        ("GET", "/engagement"),
    ]
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)
    assert rows[-1]["body"] == f"type=WRIMP&decisionId=gf:s1:{user['uid']}:1&contentId=c1"
    assert rows[-1]["sec"] == "s1" and rows[-1]["uid"] == user["uid"]
    assert orjson.loads(rows[2]["body"])["user"]["attributes"] == {"tier": "gold"}


async def test_receive_time_comes_from_the_agent_clock(
    client: TestClient, tmp_path: Path, clock: ManualClock
) -> None:
    clock.set(1_800_000_000)  # 2027-01-15T08:00:00Z
    await client.post("/visit", json=envelope())
    (row,) = outbox(tmp_path / "agent.db")
    assert orjson.loads(row["body"])["device"]["userTime"] == "2027-01-15T08:00:00.000Z"
    assert row["received_at"] == 1_800_000_000
