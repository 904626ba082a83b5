"""Decisions recorded by ``/choose``, ``/visit`` and ``/event``, and how engagement hits join them
(bundle.md §4, agent-api §5)."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient

from edge_agent.clock import ManualClock
from tests.agent.campaign_kit import (
    campaign,
    campaign_ids,
    choose,
    engagement_url,
    event,
    hit,
    make_bundle,
    on_event,
    pageload,
    payloads,
    visit,
)
from tests.conftest import MakeClient
from tests.helpers import SEC, db_rows


async def test_a_group_choice_records_one_decision_per_campaign_with_its_contents(
    client: TestClient, tmp_path: Path
) -> None:
    me = (await visit(client, {"uid": "u-slider"}))["user"]
    slides = payloads(await choose(client, me, {"group": "home_slider"}))
    assert [p["campaignId"] for p in slides] == ["cmp_slide_a", "cmp_slide_b"]
    decision_id = f"gf:{SEC}:u-slider:1790000000"
    assert {p["decisionId"] for p in slides} == {decision_id}
    db = tmp_path / "agent.db"
    rows = db_rows(db, "SELECT * FROM decisions ORDER BY campaign_id")
    assert [
        (
            r["decision_id"],
            r["campaign_id"],
            r["experience_id"],
            r["variation_id"],
            r["uid"],
            r["ses"],
            r["at"],
        )
        for r in rows
    ] == [
        (decision_id, "cmp_slide_a", "exp_slide_a", "var_slide_a", "u-slider", me["ses"], 1_790_000_000.0),
        (decision_id, "cmp_slide_b", "exp_slide_b", "var_slide_b", "u-slider", me["ses"], 1_790_000_000.0),
    ]
    assert {(r["campaign_id"], r["content_id"]) for r in db_rows(db, "SELECT * FROM decision_contents")} == {
        ("cmp_slide_a", "cnt_slide_a:aa11bb22cc33dd44ee55ff6677889900"),
        ("cmp_slide_b", "cnt_slide_b:bb22cc33dd44ee55ff66778899001122"),
    }


async def test_hits_join_their_decision_by_decision_and_content(client: TestClient, tmp_path: Path) -> None:
    slides = payloads(await choose(client, {"uid": "u-slider"}, {"group": "home_slider"}))
    second = slides[1]
    await hit(client, engagement_url(second, "impression"))
    decision_id = second["decisionId"]
    await hit(client, f"/v2/engagement?type=WCLICK&decisionId={decision_id}&contentId=cnt_other")
    await hit(client, f"/v2/engagement?type=WCLOSE&decisionId={decision_id}")
    await hit(client, "/v2/engagement?type=WIMP&decisionId=gf:x:nobody:1&contentId=cnt_slide_a")
    db = tmp_path / "agent.db"
    known = [
        (r["type"], r["content_id"], r["known_decision"]) for r in db_rows(db, "SELECT * FROM engagements")
    ]
    assert known == [
        ("WIMP", "cnt_slide_b:bb22cc33dd44ee55ff66778899001122", 1),
        ("WCLICK", "cnt_other", 0),  # the decision exists, but this content was not part of it
        ("WCLOSE", "", 1),  # no content named: the decision id alone
        ("WIMP", "cnt_slide_a", 0),
    ]
    impressed = {r["campaign_id"]: r["impressed_at"] for r in db_rows(db, "SELECT * FROM decisions")}
    assert impressed == {"cmp_slide_a": None, "cmp_slide_b": 1_790_000_000.0}


async def test_a_product_slot_hit_is_not_an_impression_of_the_content(
    client: TestClient, tmp_path: Path
) -> None:
    (banner,) = payloads(await choose(client, {"uid": "u-banner"}, {"selector": "home_banner"}))
    content_id = banner["contents"][0]["contentId"]
    await hit(
        client,
        f"/v2/engagement?type=WRIMP&decisionId={banner['decisionId']}&contentId={content_id}&slotId=s:1&strId=1",
    )
    (row,) = db_rows(tmp_path / "agent.db", "SELECT impressed_at FROM decisions")
    assert row["impressed_at"] is None
    await hit(client, engagement_url(banner, "visible_impression"))
    (row,) = db_rows(tmp_path / "agent.db", "SELECT impressed_at FROM decisions")
    assert row["impressed_at"] == 1_790_000_000.0


async def test_triggers_are_recorded_as_their_routes_decisions_and_a_same_second_choose_takes_them_over(
    make_client: MakeClient, clock: ManualClock, tmp_path: Path
) -> None:
    once = {"perUser": 1, "countOn": "decision"}
    bundle = make_bundle(
        [
            campaign("cmp_hello", triggers=[pageload()], frequency=once, priority=2),
            campaign("cmp_thanks", triggers=[on_event("purchase-v1")], frequency=once, priority=1),
        ]
    )
    client = await make_client(bundle=bundle)
    db = tmp_path / "agent.db"

    def rows() -> list[tuple[str, str, str, str]]:
        sql = "SELECT route, decision_id, campaign_id, variation_id FROM decisions ORDER BY at, campaign_id"
        return [(r[0], r[1], r[2], r[3]) for r in db_rows(db, sql)]

    me = (await visit(client, {"uid": "u-t"}))["user"]
    clock.advance(1)
    assert campaign_ids(await visit(client, me)) == ["cmp_hello"]  # a trigger is checked, never counted
    buy = {"type": "purchase-v1", "name": "Purchase", "value": 5, "cart": []}
    assert campaign_ids(await event(client, me, buy)) == ["cmp_thanks"]
    first, second = f"gf:{SEC}:u-t:1790000000", f"gf:{SEC}:u-t:1790000001"
    assert rows() == [
        ("/visit", first, "cmp_hello", ""),
        ("/visit", second, "cmp_hello", ""),
        ("/event", second, "cmp_thanks", ""),
    ]
    # The app's /choose for the fired campaign, in the trigger's second: the same decision, now allocated.
    (shown,) = payloads(await choose(client, me, {"campaignId": "cmp_thanks"}))
    assert shown["decisionId"] == second
    await hit(client, engagement_url(shown, "impression"))
    (joined,) = db_rows(db, "SELECT known_decision FROM engagements")
    assert joined["known_decision"] == 1
    assert rows()[2] == ("/choose", second, "cmp_thanks", "var_thanks")
    # A later trigger of the same second leaves the /choose row alone; the /choose decision now counts.
    assert campaign_ids(await event(client, me, buy)) == []
    assert rows()[2] == ("/choose", second, "cmp_thanks", "var_thanks")
    assert campaign_ids(await visit(client, me)) == ["cmp_hello"]
