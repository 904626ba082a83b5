"""Scores are kept as events arrive and read in aggregate: what counts, in which day, and that ranking
never goes back to the event history (``storage/scores.py``)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from blockbuster import blockbuster_ctx

from edge_agent.agent.keys import settings_key
from edge_agent.clock import ManualClock
from tests.agent.test_strategy import DAY, Shop, reco_bundle
from tests.conftest import MakeClient
from tests.helpers import db_rows


@pytest.fixture
async def shop(make_client: MakeClient, demo_bundle: dict[str, Any], clock: ManualClock) -> Shop:
    return Shop(await make_client(bundle=reco_bundle(demo_bundle)), clock)


def db_path(shop: Shop) -> Path:
    return Path(shop.client.app[settings_key].storage.path)


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


async def test_a_product_view_is_counted_by_the_visit_write(shop: Shop, clock: ManualClock) -> None:
    await shop.view("u1", "sku-1002")
    rows = db_rows(db_path(shop), "SELECT day, product_id, views, carts, purchases FROM item_scores")
    assert [tuple(r) for r in rows] == [(int(clock.now() // DAY), "sku-1002", 1, 0, 0)]


async def test_only_product_screens_are_views(shop: Shop) -> None:
    await shop.post("/visit", "u1", ctx={"type": "HOMEPAGE", "data": ["sku-1002"]})
    await shop.post("/visit", "u1", ctx={"type": "CART", "data": ["sku-1006"]})
    assert db_rows(db_path(shop), "SELECT * FROM item_scores") == []
    await shop.post("/visit", "u1", ctx={"type": "product", "data": [1003]})  # Android may send numbers
    rows = db_rows(db_path(shop), "SELECT product_id, views FROM item_scores")
    assert [tuple(r) for r in rows] == [("1003", 1)]


@pytest.mark.parametrize("page", ["PRODUCT", "product"])
async def test_a_product_view_feeds_scores_and_affinity_alike_in_any_case(shop: Shop, page: str) -> None:
    await shop.post("/visit", "u1", ctx={"type": page, "data": ["sku-1002"]})
    views = db_rows(db_path(shop), "SELECT product_id, views FROM item_scores")
    assert [tuple(r) for r in views] == [("sku-1002", 1)]
    state = db_rows(db_path(shop), "SELECT affinity FROM profile_state")  # the one profile
    assert list(orjson.loads(state[0][0])) == ["sku-1002"]


async def test_ranking_reads_scores_not_the_event_history(shop: Shop) -> None:
    await shop.view("u1", "sku-1001", "sku-1002")
    await shop.view("u2", "sku-1002", "sku-1003")
    await shop.purchase("u3", "sku-1001", "sku-1007")
    before = {
        s: await shop.ids("reader", s, ctx_data=["sku-1001"])
        for s in ("str_popular_all", "str_viewed_together", "str_bought_together", "str_trending")
    }
    with_history = db_rows(db_path(shop), "SELECT COUNT(*) FROM history")[0][0]
    assert with_history > 0
    wipe = sqlite3.connect(db_path(shop))
    with wipe:
        wipe.execute("DELETE FROM history")
    wipe.close()
    after = {s: await shop.ids("reader", s, ctx_data=["sku-1001"]) for s in before}
    assert after == before
    assert before["str_popular_all"] == ["sku-1002", "sku-1003", "sku-1007"]
    assert before["str_viewed_together"] == ["sku-1002"]
    assert before["str_bought_together"][0] == "sku-1007"


async def test_event_time_decides_the_day_a_purchase_counts_in(shop: Shop, clock: ManualClock) -> None:
    old = {"type": "purchase-v1", "name": "Purchase", "cart": [{"productId": "sku-1005"}]}
    await shop.event("u1", {**old, "eventTime": rfc3339(clock.now() - 40 * DAY)})  # replayed late
    await shop.event(
        "u2", {**old, "cart": [{"productId": "sku-1006"}], "eventTime": rfc3339(clock.now() - 10 * DAY)}
    )
    await shop.add_to_cart("u3", "sku-1008")
    assert await shop.ids("reader", "str_popular_all") == ["sku-1006", "sku-1008"]


async def test_a_purchase_counts_each_cart_product_once(shop: Shop) -> None:
    await shop.event(
        "u1",
        {
            "type": "purchase-v1",
            "name": "Purchase",
            "cart": [
                {"productId": "sku-1001", "quantity": 3},
                {"productId": "sku-1001"},
                {"productId": "sku-1002"},
            ],
        },
    )
    rows = db_rows(db_path(shop), "SELECT product_id, purchases FROM item_scores ORDER BY product_id")
    assert [tuple(r) for r in rows] == [("sku-1001", 1), ("sku-1002", 1)]
    pairs = db_rows(db_path(shop), "SELECT kind, a, b, n FROM pair_scores ORDER BY a")
    assert [tuple(r) for r in pairs] == [
        ("buy", "sku-1001", "sku-1002", 1),
        ("buy", "sku-1002", "sku-1001", 1),
    ]


async def test_requests_never_touch_sqlite_on_the_event_loop(shop: Shop) -> None:
    await shop.view("u1", "sku-1001", "sku-1002")
    await shop.add_to_cart("u1", "sku-1001")
    with blockbuster_ctx("edge_agent"):
        for strategy in ("str_popular", "str_similar", "str_bought_together", "str_recent", "str_trending"):
            assert (await shop.products("u1", {"strategyId": strategy}, ["sku-1001"]))["slots"]
        answer = await shop.post("/choose", "u1", data=[{"selector": "cart_reco"}])
        assert answer["data"][0]["payload"][0]["contents"][0]["products"]["slots"]


async def test_todays_events_show_at_once_and_late_ones_within_a_minute(
    shop: Shop, clock: ManualClock
) -> None:
    await shop.add_to_cart("u1", "sku-1008")
    assert await shop.ids("reader", "str_popular_all") == ["sku-1008"]
    await shop.add_to_cart("u2", "sku-1003")
    assert await shop.ids("reader", "str_popular_all") == ["sku-1003", "sku-1008"]  # today: read fresh
    late = {"type": "purchase-v1", "name": "Purchase", "cart": [{"productId": "sku-1006"}]}
    for who in ("u3", "u4"):
        await shop.event(who, {**late, "eventTime": rfc3339(clock.now() - 3 * DAY)})
    clock.advance(61)  # past days' sums are reused for up to 60 s
    assert await shop.ids("reader", "str_popular_all") == ["sku-1006", "sku-1003", "sku-1008"]
