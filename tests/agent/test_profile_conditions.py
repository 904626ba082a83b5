"""The profile facts conditions see (bundle.md §2), observed through segment membership in UserInfo.

Each segment tests one path, so ``user.segments`` from ``POST /user`` shows what the conditions saw.
"""

from __future__ import annotations

from typing import Any

from edge_agent.clock import ManualClock
from tests.agent.campaign_kit import event, make_bundle, post, user_info, visit
from tests.conftest import MakeClient
from tests.helpers import envelope

DAY = 86_400.0


def seg(segment_id: str, attr: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"segmentId": segment_id, "condition": {"attr": attr, "op": op, "value": value}}


SEGMENTS = [
    seg("pageviews_2", "session.pageviews", "gte", 2),
    seg("events_1", "session.events", "gte", 1),
    seg("session_10min", "session.ageSeconds", "gte", 600),
    seg("visits_3", "profile.visits", "eq", 3),
    seg("visits_4", "profile.visits", "eq", 4),
    seg("known_2_days", "profile.daysSinceFirstSeen", "gte", 2),
    seg("bought_today", "profile.daysSinceLastPurchase", "eq", 0),
    seg("bought_3_days_ago", "profile.daysSinceLastPurchase", "eq", 3),
    seg("never_bought", "profile.daysSinceLastPurchase", "not_exists"),
    seg("spent_150", "profile.purchaseValue", "eq", 150),
    seg("cart_120", "cart.value", "eq", 120),
    seg("cart_3_items", "cart.items", "eq", 3),
    seg("cart_empty", "cart.items", "eq", 0),
    seg("from_email", "traffic.source", "eq", "Email"),
    seg("android_mobile", "device.type", "eq", "mobile"),
    seg("hour_4", "time.hour", "eq", 4),
    seg("tuesday", "time.weekday", "eq", 2),
]
BUNDLE = make_bundle([], SEGMENTS)


def add(product: str, quantity: int, value: float) -> dict[str, Any]:
    return {"type": "add-to-cart-v1", "name": "Add to Cart", "productId": product, "quantity": quantity,
            "value": value, "currency": "EUR"}  # fmt: skip


async def test_session_and_profile_counts_include_the_current_call(
    make_client: MakeClient, clock: ManualClock
) -> None:
    client = await make_client(bundle=BUNDLE)
    first = await visit(client, ctx={"type": "HOMEPAGE", "utm": {"utm_medium": "newsletter"}})
    me = first["user"]
    await visit(client, me)
    await visit(client, me)
    await event(client, me, {"type": "tap", "name": "Tap"})
    clock.advance(700)
    info = await user_info(client, me)
    assert set(info["segments"]) == {
        "pageviews_2", "events_1", "session_10min", "visits_3", "never_bought", "cart_empty", "from_email",
        "android_mobile",
    }  # fmt: skip

    clock.advance(2 * DAY)  # a new session, which came in directly
    me = (await visit(client, {"uid": me["uid"]}))["user"]
    assert set((await user_info(client, me))["segments"]) == {
        "visits_4", "known_2_days", "never_bought", "cart_empty", "android_mobile"
    }  # fmt: skip


async def test_cart_and_purchase_facts_follow_the_events(make_client: MakeClient, clock: ManualClock) -> None:
    client = await make_client(bundle=BUNDLE)
    me = (await event(client, None, add("sku-1", 2, 80.0)))["user"]
    await event(client, me, add("sku-2", 1, 40.0))
    assert {"cart_120", "cart_3_items"} <= set((await user_info(client, me))["segments"])

    await event(client, me, {"type": "remove-from-cart-v1", "productId": "sku-1", "quantity": 1})
    after_remove = set((await user_info(client, me))["segments"])
    assert "cart_120" not in after_remove and "cart_3_items" not in after_remove

    cart = [{"productId": "sku-1", "quantity": 1, "itemPrice": 40.0}]
    await event(client, me, {"type": "purchase-v1", "name": "Purchase", "value": 80.0, "cart": cart})
    await event(client, me, {"type": "purchase-v1", "name": "Purchase", "value": 70.0, "cart": cart})
    segments = set((await user_info(client, me))["segments"])
    assert {"cart_empty", "bought_today", "spent_150"} <= segments
    assert "never_bought" not in segments

    clock.advance(3 * DAY + 60)
    segments = set((await user_info(client, {"uid": me["uid"]}))["segments"])
    assert {"bought_3_days_ago", "spent_150", "cart_empty"} <= segments
    assert "bought_today" not in segments


async def test_time_paths_use_the_configured_time_zone(make_client: MakeClient) -> None:
    # The clock reads Monday 2026-09-21 14:13 UTC: 04:13 on Tuesday in UTC+14.
    kiritimati = await make_client(bundle=BUNDLE, decision={"timezone": "Pacific/Kiritimati"})
    assert {"hour_4", "tuesday"} <= set((await user_info(kiritimati, None))["segments"])


async def test_time_paths_outside_the_zone_do_not_match(make_client: MakeClient) -> None:
    utc = await make_client(bundle=BUNDLE, decision={"timezone": "UTC"})
    assert not {"hour_4", "tuesday"} & set((await user_info(utc, None))["segments"])


CATALOG = [
    {"productId": "sku-1", "category": "shoes", "brand": "Nordic"},
    {"productId": "sku-2", "category": "shoes", "brand": "Urbano"},
    {"productId": "sku-3", "category": "socks", "brand": "Nordic"},
    {"productId": "sku-4"},
]


async def test_affinity_scores_views_carts_and_purchases_per_attribute(
    make_client: MakeClient, clock: ManualClock
) -> None:
    client = await make_client(bundle=make_bundle([], catalog=CATALOG))
    me = (await visit(client, None, page="PRODUCT", ctx={"type": "PRODUCT", "data": ["sku-1"]}))["user"]
    await visit(client, me, page="PRODUCT", ctx={"type": "PRODUCT", "data": ["sku-unknown"]})
    await visit(client, me, page="PRODUCT", ctx={"type": "PRODUCT", "data": ["sku-4"]})
    await event(client, me, add("sku-2", 1, 10.0))
    cart = [{"productId": "sku-3", "quantity": 2, "itemPrice": 5.0}]
    await event(client, me, {"type": "purchase-v1", "name": "Purchase", "value": 10.0, "cart": cart})
    info = await user_info(client, me)
    assert info["details"]["affinity"] == {
        "category": {"socks": 5.0, "shoes": 4.0},
        "brand": {"Nordic": 6.0, "Urbano": 3.0},
    }
    clock.advance(30 * DAY)  # one half-life
    info = await user_info(client, {"uid": me["uid"]})
    assert info["details"]["affinity"]["brand"] == {"Nordic": 3.0, "Urbano": 1.5}


async def test_a_new_profile_has_empty_affinity(make_client: MakeClient) -> None:
    client = await make_client(bundle=make_bundle([], catalog=CATALOG))
    assert (await user_info(client, None))["details"]["affinity"] == {}


async def test_counters_count_events_by_type_only_when_asked(make_client: MakeClient) -> None:
    client = await make_client(bundle=BUNDLE)
    me = (await visit(client))["user"]
    body = envelope(me, data=[add("sku-1", 1, 1.0), add("sku-2", 1, 1.0), {"type": "tap", "name": "Tap"}])
    assert "counters" not in (await post(client, "/event", body))["user"]
    body["options"]["isReturnCounter"] = True
    body["data"] = [{"type": "tap", "name": "Tap"}]
    counted = (await post(client, "/event", body))["user"]
    assert counted["counters"] == {"add-to-cart-v1": 2, "tap": 2}  # visits are not events
    user_body = envelope(me)
    user_body["options"]["isReturnCounter"] = True
    assert (await post(client, "/user", user_body))["user"]["counters"] == counted["counters"]
