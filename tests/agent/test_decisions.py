"""Decisions recorded by ``/choose`` and how engagement hits join them (bundle.md §4, agent-api §5)."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient

from tests.agent.campaign_kit import campaign_ids, choose, engagement_url, hit, payloads, visit
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


async def test_visit_and_event_make_no_decisions(client: TestClient, tmp_path: Path) -> None:
    me = (await visit(client, {"uid": "u-visits"}))["user"]
    assert campaign_ids(await visit(client, me)) == ["cmp_survey01"]
    assert db_rows(tmp_path / "agent.db", "SELECT * FROM decisions") == []
