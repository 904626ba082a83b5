"""Which campaigns ``/visit``, ``/event`` and ``/choose`` answer (bundle.md §4), through the real routes."""

from __future__ import annotations

from typing import Any

from edge_agent.clock import ManualClock
from tests.agent.campaign_kit import (
    campaign,
    campaign_ids,
    choose,
    event,
    experience,
    make_bundle,
    on_event,
    pageload,
    payloads,
    variation,
    visit,
)
from tests.conftest import MakeClient

HOME = {"attr": "ctx.type", "op": "eq", "value": "HOMEPAGE"}
GOLD = {"attr": "user.attributes.tier", "op": "eq", "value": "gold"}
# The test clock starts at 2026-09-21T14:13:20Z.
BEFORE, AFTER = "2026-09-21T14:00:00Z", "2026-09-21T15:00:00Z"


async def test_status_and_schedule_window(make_client: MakeClient, clock: ManualClock) -> None:
    bundle = make_bundle(
        [
            campaign("cmp_paused", status="paused", triggers=[pageload()], priority=9),
            campaign("cmp_later", start=AFTER, triggers=[pageload()], priority=8),
            campaign("cmp_over", end=BEFORE, triggers=[pageload()], priority=7),
            campaign("cmp_now", start=BEFORE, end=AFTER, triggers=[pageload()], priority=6),
        ]
    )
    client = await make_client(bundle=bundle, decision={"max_campaigns": 4})
    assert campaign_ids(await visit(client)) == ["cmp_now"]
    clock.advance(3600)  # 15:13: cmp_later has started, cmp_now has ended (end is exclusive)
    assert campaign_ids(await visit(client)) == ["cmp_later"]


async def test_pageload_and_event_triggers_with_conditions(make_client: MakeClient) -> None:
    big = {"attr": "event.value", "op": "gte", "value": 100}
    bundle = make_bundle(
        [
            campaign("cmp_home", triggers=[pageload(HOME, delay=1500)], priority=3),
            campaign("cmp_big_buy", triggers=[on_event("purchase-v1", condition=big, delay=250)], priority=2),
            campaign(
                "cmp_any_cart", triggers=[on_event("add-to-cart-v1", "remove-from-cart-v1")], priority=1
            ),
        ]
    )
    client = await make_client(bundle=bundle, decision={"max_campaigns": 3})
    answer = await visit(client)
    assert answer["campaigns"] == [
        {"campaignId": "cmp_home", "experienceId": "exp_home", "trigger": "PAGELOAD", "priority": 3,
         "delayTime": 1500},
    ]  # fmt: skip
    assert campaign_ids(await visit(client, page="CART")) == []
    me = answer["user"]
    small = {"type": "purchase-v1", "name": "Purchase", "value": 20, "cart": []}
    assert campaign_ids(await event(client, me, small)) == []
    large = {**small, "value": 120}
    answer = await event(client, me, small, large, {"type": "remove-from-cart-v1", "productId": "x"})
    assert [(c["campaignId"], c["trigger"], c["delayTime"]) for c in answer["campaigns"]] == [
        ("cmp_big_buy", "EVENT", 250),
        ("cmp_any_cart", "EVENT", 0),
    ]
    assert campaign_ids(await event(client, me, {"type": "tap", "name": "Tap"})) == []


async def test_count_conditions_read_the_profiles_stored_history(make_client: MakeClient) -> None:
    def count(event_type: str, where: dict[str, Any] | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {"event": event_type, "withinDays": 7}
        if where is not None:
            spec["where"] = where
        return {"count": spec, "op": "gte", "value": 2}

    big_carts = count("add-to-cart-v1", {"attr": "event.value", "op": "gte", "value": 100})
    product_views = count("visit", {"attr": "ctx.type", "op": "eq", "value": "PRODUCT"})
    bundle = make_bundle(
        [
            campaign("cmp_big_carts", triggers=[pageload(big_carts)], priority=3),
            campaign("cmp_taps", triggers=[pageload(count("tap"))], priority=2),  # no where: times only
            campaign("cmp_viewer", triggers=[pageload(product_views)], priority=1),
        ]
    )
    client = await make_client(bundle=bundle, decision={"max_campaigns": 3})
    me = (await visit(client, {"uid": "u1"}, page="PRODUCT"))["user"]
    cart, tap = {"type": "add-to-cart-v1", "name": "Add", "value": 120}, {"type": "tap", "name": "Tap"}
    await event(client, me, cart, {**cart, "value": 20}, tap)
    assert campaign_ids(await visit(client, me)) == []  # one big cart, one tap, one product view
    await event(client, me, {**cart, "value": 150}, tap)
    assert campaign_ids(await visit(client, me)) == ["cmp_big_carts", "cmp_taps"]
    assert campaign_ids(await visit(client, me, page="PRODUCT")) == [
        "cmp_big_carts",
        "cmp_taps",
        "cmp_viewer",
    ]


async def test_audience_and_the_first_experience_whose_audience_holds(make_client: MakeClient) -> None:
    bundle = make_bundle(
        [
            campaign("cmp_gold", audience=GOLD, triggers=[pageload()], selector="spot", priority=5),
            campaign(
                "cmp_tiered",
                triggers=[pageload()],
                selector="spot",
                experiences=[
                    experience("exp_tier_gold", [variation("var_tier_gold")], audience=GOLD),
                    experience("exp_app", [variation("var_app")], audience=HOME),
                ],
            ),
            campaign(
                "cmp_nobody",
                triggers=[pageload()],
                priority=9,
                experiences=[
                    experience("exp_never", audience={"attr": "ctx.type", "op": "eq", "value": "X"})
                ],
            ),
        ]
    )
    client = await make_client(bundle=bundle, decision={"max_campaigns": 3})
    plain = await visit(client, {"uid": "plain"})
    assert [(c["campaignId"], c["experienceId"]) for c in plain["campaigns"]] == [("cmp_tiered", "exp_app")]
    assert campaign_ids(await visit(client, {"uid": "plain"}, page="CART")) == []  # no experience holds
    gold = {"uid": "vip", "attributes": {"tier": "gold"}}
    answer = await visit(client, gold)
    assert [(c["campaignId"], c["experienceId"]) for c in answer["campaigns"]] == [
        ("cmp_gold", "exp_gold"),
        ("cmp_tiered", "exp_tier_gold"),
    ]
    # A selector item gets exactly one entry: the highest-priority eligible campaign.
    chosen = await choose(client, {"uid": "vip"}, {"selector": "spot"})
    assert [(e["selector"], [p["campaignId"] for p in e["payload"]]) for e in chosen["data"]] == [
        ("spot", ["cmp_gold"])
    ]
    chosen = await choose(client, {"uid": "plain"}, {"selector": "spot"}, {"campaignId": "cmp_nobody"})
    assert [(p["campaignId"], p["experienceId"], p["variationId"]) for p in payloads(chosen)] == [
        ("cmp_tiered", "exp_app", "var_app")
    ]


def _three(priorities: tuple[int, int, int]) -> dict[str, Any]:
    return make_bundle(
        [
            campaign(f"cmp_{n}", triggers=[pageload()], priority=p)
            for n, p in zip("abc", priorities, strict=True)
        ]
    )


async def test_at_most_max_campaigns_highest_priority_first_ties_in_bundle_order(
    make_client: MakeClient,
) -> None:
    client = await make_client(bundle=_three((1, 5, 1)), decision={"max_campaigns": 2})
    assert campaign_ids(await visit(client)) == ["cmp_b", "cmp_a"]


async def test_one_campaign_per_visit_by_default(make_client: MakeClient) -> None:
    client = await make_client(bundle=_three((1, 1, 7)))
    assert campaign_ids(await visit(client)) == ["cmp_c"]


async def test_group_answers_one_entry_per_eligible_campaign_in_priority_order(
    make_client: MakeClient,
) -> None:
    bundle = make_bundle(
        [
            campaign("cmp_low", group="slider", priority=1),
            campaign("cmp_gold", group="slider", priority=2, audience=GOLD),
            campaign("cmp_high", group="slider", priority=3),
        ]
    )
    client = await make_client(bundle=bundle)
    answer = await choose(client, {"uid": "someone"}, {"group": "slider"})
    assert [p["campaignId"] for p in payloads(answer)] == ["cmp_high", "cmp_low"]
    assert all("selector" not in entry for entry in answer["data"])
