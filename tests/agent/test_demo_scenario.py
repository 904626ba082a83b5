"""The packaged demo bundle through the HTTP routes: each of its six campaigns fires as the bundle intends."""

from __future__ import annotations

from collections import Counter
from typing import Any

from aiohttp.test_utils import TestClient

from edge_agent.agent.decide.compiled import allocation_point
from edge_agent.clock import ManualClock
from tests.agent.campaign_kit import (
    campaign_ids,
    choose,
    engagement_url,
    event,
    hit,
    payloads,
    purchase,
    visit,
)
from tests.conftest import MakeClient

DAY = 86_400.0


async def test_survey_on_the_second_homepage_visit_until_it_was_seen(
    client: TestClient, clock: ManualClock
) -> None:
    first = await visit(client, {"uid": "u-survey"})
    assert campaign_ids(first) == []  # the first visit
    me = first["user"]
    answer = await visit(client, me)
    assert answer["user"] == me
    assert answer["campaigns"] == [
        {"campaignId": "cmp_survey01", "experienceId": "exp_survey01", "trigger": "PAGELOAD", "priority": 5,
         "delayTime": 1000}
    ]  # fmt: skip
    assert campaign_ids(await visit(client, me, page="PRODUCT")) == []  # only on the home page
    (survey,) = payloads(await choose(client, me, {"campaignId": "cmp_survey01"}))
    assert (survey["testId"], survey["contents"][0]["deliveryMethod"]) == ("tst_survey01", "bottom_sheet")
    assert campaign_ids(await visit(client, me)) == ["cmp_survey01"]  # decided, but not seen yet

    clock.advance(2)
    await hit(client, engagement_url(survey, "visible_impression"))  # the hook the survey itself declares
    assert campaign_ids(await visit(client, me)) == []
    clock.advance(40 * DAY)
    assert campaign_ids(await visit(client, {"uid": "u-survey"})) == []  # once per user, for good
    assert payloads(await choose(client, {"uid": "u-survey"}, {"campaignId": "cmp_survey01"})) == []


async def test_thank_you_modal_after_a_purchase_once_per_session(
    client: TestClient, clock: ManualClock
) -> None:
    me = (await visit(client, {"uid": "u-thanks"}))["user"]
    assert campaign_ids(await event(client, me, {"type": "add-to-cart-v1", "productId": "sku-1001"})) == []
    answer = await event(client, me, purchase(5990.0, ("sku-1001", 1, 5990.0)))
    assert answer["campaigns"] == [
        {"campaignId": "cmp_thanks01", "experienceId": "exp_thanks01", "trigger": "EVENT", "priority": 10,
         "delayTime": 500}
    ]  # fmt: skip
    assert len(payloads(await choose(client, me, {"campaignId": "cmp_thanks01"}))) == 1
    clock.advance(60)
    assert campaign_ids(await event(client, me, purchase(790.0, ("sku-1003", 1, 790.0)))) == []
    clock.advance(31 * 60)  # the next session
    assert campaign_ids(await event(client, {"uid": "u-thanks"}, purchase(1.0))) == ["cmp_thanks01"]


async def test_about_ten_percent_of_people_get_the_thank_you_control(
    client: TestClient, clock: ManualClock
) -> None:
    uids = [f"{i:024x}" for i in range(300)]
    empty: list[str] = []
    for uid in uids:
        clock.advance(0.01)
        (entry,) = payloads(await choose(client, {"uid": uid}, {"campaignId": "cmp_thanks01"}))
        assert (entry["contents"] == []) == (entry["variationId"] == "var_thanks01ctrl")
        if entry["contents"] == []:
            empty.append(uid)
    assert empty == [uid for uid in uids if allocation_point(uid, "exp_thanks01") >= 0.9]
    assert 0.05 <= len(empty) / len(uids) <= 0.15


async def test_home_banner_a_b_for_everyone_and_the_buyers_experience_for_90_days(
    client: TestClient, clock: ManualClock
) -> None:
    seen: Counter[tuple[str, str]] = Counter()
    for i in range(40):
        (banner,) = payloads(await choose(client, {"uid": f"browser-{i}"}, {"selector": "home_banner"}))
        seen[(banner["experienceId"], banner["variationId"])] += 1
    assert set(seen) == {("exp_banner_all", "var_banner_a"), ("exp_banner_all", "var_banner_b")}

    buyer = (await event(client, {"uid": "browser-0"}, purchase(990.0, ("sku-1008", 1, 990.0))))["user"]
    (banner,) = payloads(await choose(client, buyer, {"selector": "home_banner"}))
    assert (banner["experienceId"], banner["variationId"]) == ("exp_banner_buyers", "var_banner_buyers")
    clock.advance(91 * DAY)  # the purchase leaves the seg_buyers window
    (banner,) = payloads(await choose(client, {"uid": "browser-0"}, {"selector": "home_banner"}))
    assert banner["experienceId"] == "exp_banner_all"


async def test_cart_recommendations_answer_a_products_object(client: TestClient) -> None:
    answer = await choose(client, {"uid": "u-cart"}, {"selector": "cart_reco"})
    ((entry, reco),) = [(e, p) for e in answer["data"] for p in e["payload"]]
    assert (entry["selector"], reco["campaignId"]) == ("cart_reco", "cmp_cartreco03")
    products: dict[str, Any] = reco["contents"][0]["products"]
    assert products["strategyId"] == "str_bought_together"
    assert isinstance(products["slots"], list)
    assert {"strategyId", "fallback", "pageNumber", "countPages", "slots"} <= set(products)


async def test_home_slider_group_answers_both_slides(client: TestClient) -> None:
    answer = await choose(client, {"uid": "u-slider"}, {"group": "home_slider"})
    assert [[p["campaignId"] for p in e["payload"]] for e in answer["data"]] == [
        ["cmp_slide_a"],
        ["cmp_slide_b"],
    ]
    assert [e["payload"][0]["contents"][0]["variables"]["index"] for e in answer["data"]] == [0, 1]


async def test_every_demo_campaign_fires_for_one_shopper(make_client: MakeClient, clock: ManualClock) -> None:
    client = await make_client()
    fired: set[str] = set()
    me = (await visit(client, {"uid": "shopper"}))["user"]
    fired.update(campaign_ids(await visit(client, me)))
    fired.update(campaign_ids(await event(client, me, purchase(10.0, ("sku-1001", 1, 10.0)))))
    for item in ({"selector": "home_banner"}, {"selector": "cart_reco"}, {"group": "home_slider"}):
        fired.update(p["campaignId"] for p in payloads(await choose(client, me, item)))
    assert fired == {"cmp_survey01", "cmp_thanks01", "cmp_homebanner02", "cmp_cartreco03", "cmp_slide_a",
                     "cmp_slide_b"}  # fmt: skip
