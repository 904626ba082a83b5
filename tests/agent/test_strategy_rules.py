"""Request rules (RtRule), item shape options, and the Products object ``/choose`` embeds (bundle.md §5,
sdk-wire-contract §2.8 and §3.3)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient

from edge_agent.clock import ManualClock
from tests.agent.test_strategy import NEWEST_FIRST, Shop, reco_bundle
from tests.conftest import MakeClient
from tests.helpers import envelope

CART_CONTENT = "cnt_cartreco03:5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"


@pytest.fixture
async def shop(make_client: MakeClient, demo_bundle: dict[str, Any], clock: ManualClock) -> Shop:
    return Shop(await make_client(bundle=reco_bundle(demo_bundle)), clock)


def rule(kind: str, field: str, action: str, *values: Any, slots: list[int] | None = None) -> dict[str, Any]:
    return {
        "id": None,
        "type": kind,
        "slots": slots,
        "conditions": [{"field": field, "arguments": [{"action": action, "value": list(values)}]}],
    }


async def newest(shop: Shop, *rules: dict[str, Any], **item: Any) -> list[str]:
    return await shop.ids("reader", "str_new", rules=list(rules), **item)


# Newest first, with prices: 1008 990, 1005 15990, 1006 11990, 1002 4490, 1007 490, 1001 5990, 1003 790;
# brands: 1008/1005/1006 Polar, 1002/1007 Urbano, 1001/1003 Nordic.


async def test_filter_and_include_keep_matching_items(shop: Shop) -> None:
    shoes_socks = rule("filter", "category", "in", "shoes", "socks")
    assert await newest(shop, shoes_socks) == ["sku-1006", "sku-1002", "sku-1007", "sku-1001", "sku-1003"]
    assert await newest(shop, rule("include", "brand", "eq", "Nordic")) == ["sku-1001", "sku-1003"]


async def test_exclude_drops_matching_items(shop: Shop) -> None:
    assert await newest(shop, rule("exclude", "brand", "eq", "Polar")) == NEWEST_FIRST[3:]
    assert await newest(shop, rule("exclude", "brand", "nin", "Polar")) == NEWEST_FIRST[:3]


async def test_numeric_fields_coerce_string_values(shop: Shop) -> None:
    assert await newest(shop, rule("filter", "price", "lt", "1000")) == ["sku-1008", "sku-1007", "sku-1003"]
    assert await newest(shop, rule("filter", "price", "gte", "11990")) == ["sku-1005", "sku-1006"]
    assert await newest(shop, rule("filter", "price", "in", "790", "490")) == ["sku-1007", "sku-1003"]
    assert await newest(shop, rule("filter", "name", "contains", "socks")) == ["sku-1007", "sku-1003"]


async def test_every_condition_and_any_argument(shop: Shop) -> None:
    both = {
        "type": "filter",
        "conditions": [
            {"field": "category", "arguments": [{"action": "eq", "value": ["shoes"]}]},
            {
                "field": "price",
                "arguments": [{"action": "lt", "value": ["5000"]}, {"action": "gt", "value": ["9000"]}],
            },
        ],
    }
    assert await newest(shop, both) == ["sku-1006", "sku-1002"]


async def test_slot_rules_apply_only_to_their_positions(shop: Shop) -> None:
    socks_first = rule("filter", "category", "eq", "socks", slots=[1])
    assert await newest(shop, socks_first) == [
        "sku-1007",
        "sku-1008",
        "sku-1005",
        "sku-1006",
        "sku-1002",
        "sku-1001",
        "sku-1003",
    ]
    no_dear_top = rule("exclude", "price", "gt", "5000", slots=[1, 2])
    assert await newest(shop, no_dear_top) == [
        "sku-1008",
        "sku-1002",
        "sku-1005",
        "sku-1006",
        "sku-1007",
        "sku-1001",
        "sku-1003",
    ]
    # Slot numbers count across pages: page 2 of size 2 starts at position 3, untouched by the rule.
    page2 = await newest(shop, no_dear_top, pageSize=2, pageNumber=2)
    assert page2 == ["sku-1005", "sku-1006"]


async def test_a_position_nothing_fits_ends_the_list(shop: Shop) -> None:
    assert await newest(shop, rule("filter", "category", "eq", "hats", slots=[2])) == ["sku-1008"]


async def test_rules_apply_to_fallback_items_too(shop: Shop) -> None:
    products = await shop.products(
        "reader", {"strategyId": "str_recent_fb", "rules": [rule("exclude", "brand", "eq", "Polar")]}
    )
    assert [s["item"]["productId"] for s in products["slots"]] == ["sku-1001", "sku-1003"]


async def test_unknown_rule_types_and_actions_are_ignored_and_logged(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    odd = [
        rule("boost", "brand", "eq", "Polar"),
        rule("exclude", "brand", "near", "Polar"),
        {
            "type": "filter",
            "conditions": [
                {
                    "field": "brand",
                    "arguments": [{"action": "like", "value": ["x"]}, {"action": "eq", "value": ["Urbano"]}],
                }
            ],
        },
        {"type": "include", "conditions": []},
    ]
    with caplog.at_level(logging.WARNING, logger="edge_agent.agent.decide.rtrules"):
        assert await newest(shop, *odd) == ["sku-1002", "sku-1007"]
    assert "'boost'" in caplog.text and "'near'" in caplog.text and "'like'" in caplog.text


async def test_skus_only_and_fields(shop: Shop) -> None:
    skus = await shop.products(
        "reader", {"strategyId": "str_manual_top", "option": {"skusOnly": True, "fields": ["name"]}}
    )
    assert [s["item"] for s in skus["slots"]] == [
        {"sku": p} for p in ("sku-1005", "sku-1001", "sku-1008", "sku-1003")
    ]
    fields = await shop.products(
        "reader", {"strategyId": "str_manual_top", "options": {"fields": ["name", "price", "nope"]}}
    )
    assert fields["slots"][0]["item"] == {
        "productId": "sku-1005",
        "name": "Insulated parka",
        "price": 15990.0,
    }
    whole = await shop.products(
        "reader", {"strategyId": "str_manual_top", "option": {"skusOnly": False, "fields": None}}
    )
    assert whole["slots"][0]["item"]["brand"] == "Polar" and len(whole["slots"][0]["item"]) == 9


def assert_sdk_products(products: dict[str, Any]) -> None:
    """The REQ types of sdk-wire-contract §3.3 (Products and Slot) plus the slot engagement events."""
    assert isinstance(products["strategyId"], str) and isinstance(products["fallback"], bool)
    assert isinstance(products["pageNumber"], int) and isinstance(products["countPages"], int)
    for slot in products["slots"]:
        assert isinstance(slot["item"], dict) and isinstance(slot["fallback"], bool)
        assert isinstance(slot["strId"], int) and not isinstance(slot["strId"], bool)
        assert isinstance(slot["slotId"], str) and slot["slotId"]
        assert [e["type"] for e in slot["events"]] == ["visible_impression", "click"]
        for event in slot["events"]:
            assert len(event["urls"]) == 1 and event["urls"][0].startswith("http://127.0.0.1:")


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def test_cart_reco_choose_fills_products_with_engagement_urls(shop: Shop) -> None:
    await shop.purchase("a", "sku-1001", "sku-1003", "sku-1007")
    await shop.purchase("b", "sku-1001", "sku-1003")
    await shop.purchase("c", "sku-1001", "sku-1002")
    await shop.add_to_cart("shopper", "sku-1001")
    answer = await shop.post(
        "/choose", "shopper", data=[{"selector": "cart_reco", "option": {"skusOnly": False, "fields": None}}]
    )
    payload = answer["data"][0]["payload"][0]
    content = payload["contents"][0]
    products = content["products"]
    assert_sdk_products(products)
    assert products["strategyId"] == "str_bought_together" and products["name"] == "Bought together"
    assert products["fallback"] is False
    slots = products["slots"]
    # Bought with the cart's sku-1001, then popular (sku-1001: in the cart, but not in ctx.data), then picks.
    ids = ["sku-1003", "sku-1002", "sku-1007", "sku-1001", "sku-1005", "sku-1008"]
    assert [s["item"]["productId"] for s in slots] == ids
    assert [s["fallback"] for s in slots] == [False] * 3 + [True] * 3
    assert [s["strId"] for s in slots] == [3, 3, 3, 1, 5, 5]
    assert slots[0]["strId"] == 3 and slots[0]["slotId"] == "str_bought_together:1"
    impression, click = (query(e["urls"][0]) for e in slots[0]["events"])
    assert impression == {
        "type": "PRIMP",
        "decisionId": payload["decisionId"],
        "contentId": CART_CONTENT,
        "slotId": "str_bought_together:1",
        "strId": "3",
    }
    assert click["type"] == "PCLICK" and click["decisionId"] == payload["decisionId"]


async def test_content_limit_sets_the_page_size(
    make_client: MakeClient, demo_bundle: dict[str, Any], clock: ManualClock
) -> None:
    bundle = reco_bundle(demo_bundle)
    for campaign in bundle["campaigns"]:
        for experience in campaign["experiences"]:
            for variation in experience["variations"]:
                for content in variation["contents"]:
                    if "products" in content:
                        content["products"]["limit"] = 2
    shop = Shop(await make_client(bundle=bundle), clock)
    answer = await shop.post("/choose", "reader", data=[{"selector": "cart_reco"}])
    products = answer["data"][0]["payload"][0]["contents"][0]["products"]
    # Nothing bought yet: popular is empty too, the four editor's picks remain, two per page.
    assert (len(products["slots"]), products["countPages"], products["fallback"]) == (2, 2, True)


async def test_choose_applies_each_items_rules_and_option(shop: Shop) -> None:
    items = [
        {
            "selector": "cart_reco",
            "option": {"skusOnly": True},
            "rules": [rule("exclude", "category", "eq", "outerwear")],
        },
    ]
    answer = await shop.post("/choose", "reader", data=items)
    slots = answer["data"][0]["payload"][0]["contents"][0]["products"]["slots"]
    assert slots and all(set(s["item"]) == {"sku"} for s in slots)
    assert "sku-1005" not in [s["item"]["sku"] for s in slots]  # the first manual pick, outerwear


async def test_old_flutter_top_level_content_settings(shop: Shop) -> None:
    answer = await shop.post(
        "/choose", "reader", data=[{"selector": "cart_reco"}], contentSettings={"skusOnly": True}
    )
    slots = answer["data"][0]["payload"][0]["contents"][0]["products"]["slots"]
    assert slots and all(set(s["item"]) == {"sku"} for s in slots)


async def test_demo_bundle_choose_products_satisfy_the_sdk_types(client: TestClient) -> None:
    resp = await client.post(
        "/choose",
        json=envelope(data=[{"selector": "cart_reco", "option": {"skusOnly": False, "fields": None}}]),
    )
    assert resp.status == 200
    content = (await resp.json())["data"][0]["payload"][0]["contents"][0]
    assert_sdk_products(content["products"])
    assert content["products"]["slots"], "the fallback chain ends in the editor's picks"
