"""``POST /strategy``: every strategy type ranks what the public routes recorded (bundle.md §5).

History is seeded only through ``/visit`` (product views) and ``/event`` (carts, purchases), from several
devices and sessions; nothing writes the score tables directly.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from edge_agent.clock import ManualClock
from tests.conftest import MakeClient
from tests.helpers import envelope

DAY = 86_400.0
# The demo catalog in catalog order; sku-1004 is the only out-of-stock item.
NEWEST_FIRST = ["sku-1008", "sku-1005", "sku-1006", "sku-1002", "sku-1007", "sku-1001", "sku-1003"]
EXTRA_STRATEGIES: list[dict[str, Any]] = [
    {"strategyId": "str_trending", "type": "trending", "params": {"windowDays": 30, "recentDays": 7}},
    {"strategyId": "str_viewed_together", "type": "viewed_together"},
    {"strategyId": "str_new", "type": "new_arrivals", "name": "New in"},
    {"strategyId": "str_new_small", "type": "new_arrivals", "params": {"limit": 2}},
    {"strategyId": "str_popular_all", "type": "popular"},
    {
        "strategyId": "str_new_cheap",
        "type": "new_arrivals",
        "filter": {"attr": "item.price", "op": "lt", "value": 1000},
    },
    {
        "strategyId": "str_new_sold_out",
        "type": "new_arrivals",
        "filter": {"attr": "item.inStock", "op": "eq", "value": False},
    },
    {"strategyId": "str_recent_fb", "type": "recently_viewed", "fallback": "str_manual_top"},
    *[
        {
            "strategyId": f"chain_{i}",
            "type": "manual",
            "params": {"items": [NEWEST_FIRST[i - 1]]},
            **({"fallback": f"chain_{i + 1}"} if i < 7 else {}),
        }
        for i in range(1, 8)
    ],
    {"strategyId": "cyc_a", "type": "manual", "params": {"items": ["sku-1001"]}, "fallback": "cyc_b"},
    {"strategyId": "cyc_b", "type": "manual", "params": {"items": ["sku-1002"]}, "fallback": "cyc_a"},
]


def reco_bundle(demo: dict[str, Any]) -> dict[str, Any]:
    bundle = copy.deepcopy(demo)
    bundle["version"] = "reco-test-1"
    bundle["strategies"] = bundle["strategies"] + copy.deepcopy(EXTRA_STRATEGIES)
    return bundle


@pytest.fixture
async def shop(make_client: MakeClient, demo_bundle: dict[str, Any], clock: ManualClock) -> Shop:
    return Shop(await make_client(bundle=reco_bundle(demo_bundle)), clock)


class Shop:
    """Drives the agent the way apps do: one device per shopper, sessions kept by echoing ``user``."""

    def __init__(self, client: TestClient, clock: ManualClock) -> None:
        self.client = client
        self.clock = clock
        self.users: dict[str, dict[str, Any]] = {}

    async def post(self, path: str, who: str, **extra: Any) -> dict[str, Any]:
        body = envelope(self.users.get(who, {}), device_id=f"dev-{who}", **extra)
        resp = await self.client.post(path, json=body)
        assert resp.status == 200, await resp.text()
        answer: dict[str, Any] = await resp.json()
        self.users[who] = answer["user"]
        return answer

    async def view(self, who: str, *products: str) -> None:
        for product in products:
            ctx = {"type": "PRODUCT", "data": [product], "location": f"app://product/{product}"}
            await self.post("/visit", who, ctx=ctx, type="screenview")
            self.clock.advance(1)  # distinct view times: recently_viewed orders by them

    async def event(self, who: str, *events: dict[str, Any]) -> None:
        await self.post("/event", who, data=list(events))

    async def add_to_cart(self, who: str, product: str) -> None:
        await self.event(who, {"type": "add-to-cart-v1", "name": "Add to Cart", "productId": product})

    async def purchase(self, who: str, *products: str) -> None:
        cart = [{"productId": p, "quantity": 1, "itemPrice": 10.0} for p in products]
        await self.event(who, {"type": "purchase-v1", "name": "Purchase", "value": 10.0, "cart": cart})

    def new_session(self, who: str) -> None:
        """The next call is a relaunch: same uid, no ``ses`` (past the cold-start window)."""
        self.clock.advance(60)
        self.users[who] = {"uid": self.users[who]["uid"]}

    async def products(
        self, who: str, item: dict[str, Any], ctx_data: list[str] | None = None
    ) -> dict[str, Any]:
        ctx = {"type": "PRODUCT" if ctx_data else "HOMEPAGE", "data": ctx_data or [], "location": "app://x"}
        answer = await self.post("/strategy", who, ctx=ctx, data=[item])
        products: dict[str, Any] = answer["data"][0]
        return products

    async def ids(
        self, who: str, strategy_id: str, ctx_data: list[str] | None = None, **item: Any
    ) -> list[str]:
        products = await self.products(who, {"strategyId": strategy_id, **item}, ctx_data)
        return [slot["item"]["productId"] for slot in products["slots"]]


async def seed_popularity(shop: Shop) -> None:
    """Activity: sku-1004 3 (out of stock), sku-1002 3, sku-1006 2, sku-1001 1 (cart), sku-1003 1 (bought)."""
    await shop.view("u1", "sku-1002", "sku-1006", "sku-1004")
    await shop.view("u2", "sku-1002", "sku-1006", "sku-1004")
    await shop.view("u3", "sku-1002", "sku-1004")
    await shop.add_to_cart("u3", "sku-1001")
    await shop.purchase("u4", "sku-1003")


async def test_popular_ranks_by_activity_then_catalog_order(shop: Shop) -> None:
    await seed_popularity(shop)
    products = await shop.products("reader", {"strategyId": "str_popular", "pageSize": 4})
    assert [s["item"]["productId"] for s in products["slots"]] == [
        "sku-1002",
        "sku-1006",
        "sku-1001",
        "sku-1003",
    ]
    assert products["fallback"] is False and products["name"] == "Popular now"
    assert [s["fallback"] for s in products["slots"]] == [False] * 4
    assert [s["slotId"] for s in products["slots"]] == [f"str_popular:{i}" for i in range(1, 5)]
    assert {s["strId"] for s in products["slots"]} == {1}


async def test_out_of_stock_is_skipped_unless_the_filter_decides(shop: Shop) -> None:
    await seed_popularity(shop)
    # No filter: sku-1004 ties for the top score but is out of stock.
    assert await shop.ids("reader", "str_popular_all") == ["sku-1002", "sku-1006", "sku-1001", "sku-1003"]
    # A filter on item.inStock decides stock itself.
    assert await shop.ids("reader", "str_new_sold_out") == ["sku-1004"]


async def test_filter_condition_limits_items(shop: Shop) -> None:
    assert await shop.ids("reader", "str_new_cheap") == ["sku-1008", "sku-1007", "sku-1003"]


async def test_items_in_ctx_data_are_skipped(shop: Shop) -> None:
    await seed_popularity(shop)
    assert await shop.ids("reader", "str_popular_all", ctx_data=["sku-1002"]) == [
        "sku-1006",
        "sku-1001",
        "sku-1003",
    ]


async def test_fallback_fills_the_rest_and_flags_its_slots(shop: Shop) -> None:
    await seed_popularity(shop)
    products = await shop.products("reader", {"strategyId": "str_popular"})  # params.limit 8
    slots = products["slots"]
    # Popular yields four; the manual fallback adds its items not shown yet (sku-1005, sku-1008).
    expected = ["sku-1002", "sku-1006", "sku-1001", "sku-1003", "sku-1005", "sku-1008"]
    assert [s["item"]["productId"] for s in slots] == expected
    assert [s["fallback"] for s in slots] == [False] * 4 + [True] * 2
    assert [s["strId"] for s in slots] == [1] * 4 + [5] * 2
    assert [s["slotId"] for s in slots[4:]] == ["str_manual_top:5", "str_manual_top:6"]
    assert products["fallback"] is False  # the primary yielded something


async def test_products_fallback_is_true_when_the_primary_yields_nothing(shop: Shop) -> None:
    products = await shop.products("newcomer", {"strategyId": "str_recent_fb"})
    assert [s["item"]["productId"] for s in products["slots"]] == [
        "sku-1005",
        "sku-1001",
        "sku-1008",
        "sku-1003",
    ]
    assert products["fallback"] is True
    assert all(s["fallback"] is True for s in products["slots"])


async def test_fallback_chains_are_transitive_and_stop_at_depth_and_cycles(shop: Shop) -> None:
    # chain_1 → … → chain_7, one item each: the primary and five fallbacks are followed, not the sixth.
    assert await shop.ids("reader", "chain_1") == NEWEST_FIRST[:6]
    assert await shop.ids("reader", "cyc_a") == ["sku-1001", "sku-1002"]


async def test_similar_ranks_shared_attribute_by_popularity_ties_in_catalog_order(shop: Shop) -> None:
    # No activity yet: the other shoes in catalog order, then socks for a socks anchor (zero scores count).
    assert await shop.ids("reader", "str_similar", ctx_data=["sku-1001"], pageSize=2) == [
        "sku-1002",
        "sku-1006",
    ]
    assert await shop.ids("reader", "str_similar", ctx_data=["sku-1003"], pageSize=1) == ["sku-1007"]
    await shop.view("a", "sku-1006", "sku-1002")
    await shop.view("b", "sku-1006")
    products = await shop.products("reader", {"strategyId": "str_similar"}, ctx_data=["sku-1001"])
    # similar → popular → manual: popular's items are taken, so the manual picks fill the rest.
    expected = ["sku-1006", "sku-1002", "sku-1005", "sku-1008", "sku-1003"]
    assert [s["item"]["productId"] for s in products["slots"]] == expected
    assert [s["fallback"] for s in products["slots"]] == [False, False, True, True, True]
    assert [s["strId"] for s in products["slots"]] == [2, 2, 5, 5, 5]


async def test_similar_without_an_anchor_falls_back(shop: Shop) -> None:
    products = await shop.products("reader", {"strategyId": "str_similar"})
    assert products["fallback"] is True
    assert products["slots"] and all(s["fallback"] for s in products["slots"])


async def test_bought_together_counts_purchase_carts_and_excludes_anchors(shop: Shop) -> None:
    await shop.purchase("a", "sku-1001", "sku-1003", "sku-1007")
    await shop.purchase("b", "sku-1001", "sku-1003")
    await shop.purchase("c", "sku-1008", "sku-1001")
    await shop.purchase("d", "sku-1002", "sku-1005")
    await shop.view("e", "sku-1005", "sku-1001")  # views are not purchases
    ids = await shop.ids("reader", "str_bought_together", ctx_data=["sku-1001"], pageSize=3)
    assert ids == ["sku-1003", "sku-1007", "sku-1008"]
    products = await shop.products(
        "reader", {"strategyId": "str_bought_together", "pageSize": 3}, ["sku-1001"]
    )
    assert products["fallback"] is False and not any(s["fallback"] for s in products["slots"])


async def test_bought_together_anchors_on_the_profile_cart(shop: Shop) -> None:
    await shop.purchase("a", "sku-1002", "sku-1005")
    await shop.purchase("b", "sku-1001", "sku-1003")
    await shop.purchase("c", "sku-1005", "sku-1008")
    for product in ("sku-1002", "sku-1005", "sku-1001"):
        await shop.add_to_cart("shopper", product)
    await shop.event(
        "shopper", {"type": "remove-from-cart-v1", "name": "Remove from Cart", "productId": "sku-1001"}
    )
    # Cart {sku-1002, sku-1005}: their partners minus the cart; sku-1001 (with sku-1003) was removed.
    products = await shop.products("shopper", {"strategyId": "str_bought_together", "pageSize": 2})
    assert [s["item"]["productId"] for s in products["slots"]][:1] == ["sku-1008"]
    assert [s["fallback"] for s in products["slots"]] == [False, True]
    # Someone else's cart is not this shopper's anchor; a purchase empties the cart.
    other = await shop.products("other", {"strategyId": "str_bought_together", "pageSize": 1})
    assert other["fallback"] is True
    await shop.purchase("shopper", "sku-1002", "sku-1005")
    after = await shop.products("shopper", {"strategyId": "str_bought_together", "pageSize": 1})
    assert after["fallback"] is True


async def test_recently_viewed_is_per_profile_most_recent_first(shop: Shop) -> None:
    await shop.view("me", "sku-1003", "sku-1001", "sku-1005", "sku-1001")
    await shop.view("someone", "sku-1008")
    assert await shop.ids("me", "str_recent") == ["sku-1001", "sku-1005", "sku-1003"]
    # On a product page the product itself is skipped.
    assert await shop.ids("me", "str_recent", ctx_data=["sku-1005"]) == ["sku-1001", "sku-1003"]


async def test_viewed_together_counts_each_pair_once_per_session(shop: Shop) -> None:
    await shop.view("u1", "sku-1001", "sku-1002", "sku-1003")
    await shop.view("u2", "sku-1001", "sku-1002")
    await shop.view("u3", "sku-1001", "sku-1005", "sku-1001", "sku-1005", "sku-1005")
    shop.new_session("u1")
    await shop.view("u1", "sku-1002", "sku-1008")  # another session, without sku-1001
    expected = ["sku-1002", "sku-1003", "sku-1005"]
    assert await shop.ids("reader", "str_viewed_together", ctx_data=["sku-1001"]) == expected
    assert await shop.ids("reader", "str_viewed_together", ctx_data=["sku-1008"]) == ["sku-1002"]


async def test_trending_prefers_recent_growth_over_volume(shop: Shop, clock: ManualClock) -> None:
    await shop.view("ancient", "sku-1005")  # 40 days before the request: outside the 30-day window
    clock.advance(20 * DAY)
    for who in ("o1", "o2", "o3", "o4", "o5", "o6"):
        await shop.view(who, "sku-1002")
    await shop.view("o7", "sku-1001", "sku-1001", "sku-1001")
    clock.advance(20 * DAY)
    await shop.view("r1", "sku-1002", "sku-1008")
    await shop.view("r2", "sku-1002", "sku-1008", "sku-1006")
    # sku-1008: 2 recent / (0 + 1); sku-1006: 1 / 1; sku-1002: 2 / (6 × 7/23 + 1); sku-1001: nothing recent.
    assert await shop.ids("reader", "str_trending") == ["sku-1008", "sku-1006", "sku-1002"]
    # Popular over the same 30 days says otherwise, and the 40-day-old view is out of both.
    assert await shop.ids("reader", "str_popular_all") == ["sku-1002", "sku-1001", "sku-1008", "sku-1006"]


async def test_new_arrivals_and_manual(shop: Shop) -> None:
    assert await shop.ids("reader", "str_new") == NEWEST_FIRST
    assert await shop.ids("reader", "str_manual_top") == ["sku-1005", "sku-1001", "sku-1008", "sku-1003"]


async def test_paging_and_count_pages(shop: Shop) -> None:
    first = await shop.products("reader", {"strategyId": "str_new", "pageSize": 3})
    assert (first["pageNumber"], first["countPages"]) == (1, 3)
    assert [s["item"]["productId"] for s in first["slots"]] == NEWEST_FIRST[:3]
    second = await shop.products("reader", {"strategyId": "str_new", "pageSize": 3, "pageNumber": 2})
    assert [s["item"]["productId"] for s in second["slots"]] == NEWEST_FIRST[3:6]
    assert [s["slotId"] for s in second["slots"]] == ["str_new:4", "str_new:5", "str_new:6"]
    third = await shop.products("reader", {"strategyId": "str_new", "pageSize": 3, "pageNumber": 3})
    assert [s["item"]["productId"] for s in third["slots"]] == NEWEST_FIRST[6:]
    beyond = await shop.products("reader", {"strategyId": "str_new", "pageSize": 3, "pageNumber": 9})
    assert beyond["slots"] == [] and beyond["countPages"] == 3


async def test_page_from_ctx_and_size_from_params_then_default(shop: Shop) -> None:
    ctx = {"type": "CATEGORY", "data": [], "pageNumber": 2}
    answer = await shop.post("/strategy", "reader", ctx=ctx, data=[{"strategyId": "str_new_small"}])
    products = answer["data"][0]
    assert (products["pageNumber"], products["countPages"]) == (2, 4)  # params.limit 2, 7 items
    assert [s["item"]["productId"] for s in products["slots"]] == NEWEST_FIRST[2:4]
    default = await shop.products("reader", {"strategyId": "chain_1"})
    assert default["countPages"] == 1 and len(default["slots"]) == 6  # size 10


async def test_unknown_strategy_answers_an_empty_entry_in_request_order(shop: Shop) -> None:
    ctx = {"type": "HOMEPAGE", "data": []}
    items = [{"strategyId": "str_manual_top"}, {"strategyId": "no_such"}, {"strategyId": 42}]
    answer = await shop.post("/strategy", "reader", ctx=ctx, data=items)
    assert [p["strategyId"] for p in answer["data"]] == ["str_manual_top", "no_such", "42"]
    assert answer["data"][1] == {
        "strategyId": "no_such",
        "fallback": False,
        "pageNumber": 1,
        "countPages": 0,
        "slots": [],
    }
    assert len(answer["data"][0]["slots"]) == 4
