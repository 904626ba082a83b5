"""Frequency caps (bundle.md §4): per user, session and local day; counting decisions or impressions."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from edge_agent.clock import ManualClock
from tests.agent.campaign_kit import (
    campaign,
    campaign_ids,
    choose,
    engagement_url,
    event,
    experience,
    hit,
    make_bundle,
    on_event,
    pageload,
    payloads,
    variation,
    visit,
)
from tests.conftest import MakeClient
from tests.helpers import db_rows

MINUTE = 60.0


def capped(frequency: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """``cmp_capped`` (priority 5) and an uncapped fallback on the same selector."""
    return make_bundle(
        [
            campaign(
                "cmp_capped", selector="spot", triggers=[pageload()], frequency=frequency, priority=5, **extra
            ),
            campaign("cmp_fallback", selector="spot"),
        ]
    )


async def spot(client: TestClient, user: dict[str, Any], clock: ManualClock) -> dict[str, Any] | None:
    """The ``spot`` payload; the clock moves a second first so every call is its own decision."""
    clock.advance(1)
    found = payloads(await choose(client, user, {"selector": "spot"}))
    assert len(found) == 1
    return found[0] if found[0]["campaignId"] == "cmp_capped" else None


@pytest.mark.parametrize("action", ["impression", "visible_impression"])
async def test_per_user_impression_cap_counts_only_after_the_impression_hit(
    make_client: MakeClient, clock: ManualClock, tmp_path: Path, action: str
) -> None:
    client = await make_client(bundle=capped({"perUser": 1, "countOn": "impression"}))
    me = (await visit(client, {"uid": "u1"}))["user"]
    first = await spot(client, me, clock)
    assert first is not None
    assert await spot(client, me, clock) is not None  # decided twice, never shown: not capped
    await hit(client, engagement_url(first, "load"))  # delivered is not shown
    assert campaign_ids(await visit(client, me)) == ["cmp_capped"]

    shown_at = clock.now()
    await hit(client, engagement_url(first, action))
    assert campaign_ids(await visit(client, me)) == []
    assert await spot(client, me, clock) is None  # the selector falls through to the uncapped campaign
    clock.advance(31 * MINUTE)
    assert await spot(client, {"uid": "u1"}, clock) is None  # a new session does not reset a per-user cap
    assert await spot(client, {"uid": "u2"}, clock) is not None  # nor is anyone else capped

    rows = db_rows(
        tmp_path / "agent.db",
        "SELECT decision_id, impressed_at FROM decisions WHERE uid = 'u1' AND campaign_id = 'cmp_capped' "
        "AND route = '/choose' ORDER BY at",
    )
    # The hit marked its own decision only; the second decision was never shown.
    assert [(r["decision_id"], r["impressed_at"]) for r in rows] == [
        (first["decisionId"], shown_at),
        (rows[1]["decision_id"], None),
    ]


async def test_a_second_impression_of_the_same_decision_counts_once(
    make_client: MakeClient, clock: ManualClock
) -> None:
    client = await make_client(bundle=capped({"perUser": 2, "countOn": "impression"}))
    me = {"uid": "u1"}
    first = await spot(client, me, clock)
    assert first is not None
    for action in ("impression", "visible_impression", "impression"):
        clock.advance(10)  # outside the 5 s duplicate window: each hit is recorded
        await hit(client, engagement_url(first, action))
    second = await spot(client, me, clock)
    assert second is not None
    await hit(client, engagement_url(second, "visible_impression"))
    assert await spot(client, me, clock) is None


async def test_per_session_decision_cap_resets_with_a_new_session(
    make_client: MakeClient, clock: ManualClock
) -> None:
    client = await make_client(bundle=capped({"perSession": 1, "countOn": "decision"}))
    me = (await visit(client, {"uid": "u1"}))["user"]
    assert campaign_ids(await visit(client, me)) == ["cmp_capped"]  # /visit checks caps but never counts
    assert campaign_ids(await visit(client, me)) == ["cmp_capped"]
    assert await spot(client, me, clock) is not None  # the decision counts when made, shown or not
    assert campaign_ids(await visit(client, me)) == []
    assert await spot(client, me, clock) is None

    clock.advance(31 * MINUTE)
    again = (await visit(client, {"uid": "u1"}))["user"]
    assert again["ses"] != me["ses"]
    assert campaign_ids(await visit(client, again)) == ["cmp_capped"]
    assert await spot(client, again, clock) is not None
    assert await spot(client, again, clock) is None


async def test_event_triggers_check_the_caps_of_every_campaign_their_events_name(
    make_client: MakeClient, clock: ManualClock
) -> None:
    once = {"perSession": 1, "countOn": "decision"}
    bundle = make_bundle(
        [
            campaign(
                "cmp_capped",
                selector="spot",
                triggers=[on_event("add-to-cart-v1")],
                frequency=once,
                priority=5,
            ),
            campaign("cmp_wish", triggers=[on_event("add-to-wishlist-v1")], frequency=once, priority=1),
            campaign("cmp_fallback", selector="spot"),
        ]
    )
    client = await make_client(bundle=bundle)
    me = (await visit(client, {"uid": "u1"}))["user"]
    cart, wish = {"type": "add-to-cart-v1", "name": "Add"}, {"type": "add-to-wishlist-v1", "name": "Wish"}
    assert campaign_ids(await event(client, me, cart)) == [
        "cmp_capped"
    ]  # /event checks caps but never counts
    assert campaign_ids(await event(client, me, cart)) == ["cmp_capped"]
    assert await spot(client, me, clock) is not None
    assert campaign_ids(await event(client, me, cart)) == []
    # The capped campaign is named by the second event: its count is read too, so the other one fires.
    assert campaign_ids(await event(client, me, wish, cart)) == ["cmp_wish"]


async def test_a_control_decision_counts_toward_a_decision_cap(
    make_client: MakeClient, clock: ManualClock
) -> None:
    only_control = [experience("exp_capped", [variation("var_ctrl", control=True)])]
    client = await make_client(bundle=capped({"perUser": 1, "countOn": "decision"}, experiences=only_control))
    shown = await spot(client, {"uid": "u1"}, clock)
    assert shown is not None and shown["contents"] == []
    assert await spot(client, {"uid": "u1"}, clock) is None


async def test_per_day_cap_resets_on_the_next_local_day(make_client: MakeClient, clock: ManualClock) -> None:
    # The clock starts at 14:13:20 UTC = 04:13:20 in UTC+14: the local day ends in 19 h 46 min 40 s,
    # while the UTC day would end in 9 h 46 min 40 s.
    client = await make_client(
        bundle=capped({"perDay": 2, "countOn": "decision"}), decision={"timezone": "Pacific/Kiritimati"}
    )
    me = {"uid": "u1"}
    assert await spot(client, me, clock) is not None
    clock.advance(5 * 3600)  # a new session, the same day
    assert await spot(client, me, clock) is not None
    assert await spot(client, me, clock) is None
    clock.advance(5 * 3600)  # past midnight UTC, not local midnight
    assert await spot(client, me, clock) is None
    local_midnight = 1_790_000_000 + 19 * 3600 + 46 * 60 + 40
    clock.set(local_midnight - 2)
    assert await spot(client, me, clock) is None  # 23:59:59 local
    assert await spot(client, me, clock) is not None  # 00:00:00 the next local day


async def test_caps_combine_and_uncapped_campaigns_are_never_capped(
    make_client: MakeClient, clock: ManualClock
) -> None:
    client = await make_client(bundle=capped({"perUser": 3, "perSession": 1, "countOn": "decision"}))
    served = 0
    for _ in range(5):
        clock.advance(31 * MINUTE)  # a session per round
        user = (await visit(client, {"uid": "u1"}))["user"]
        if await spot(client, user, clock) is not None:
            served += 1
        assert await spot(client, user, clock) is None  # per session: one
    assert served == 3  # per user: three
    answer = await choose(client, {"uid": "u1"}, *[{"selector": "spot"}] * 3)
    assert [p["campaignId"] for p in payloads(answer)] == ["cmp_fallback"] * 3


@pytest.mark.parametrize("frequency", [{"perUser": 1}, {"perSession": 1}, {"perDay": 1}])
async def test_concurrent_choose_calls_for_one_profile_pass_a_cap_of_one_once(
    make_client: MakeClient, tmp_path: Path, frequency: dict[str, Any]
) -> None:
    client = await make_client(bundle=capped({**frequency, "countOn": "decision"}))
    me = (await visit(client, {"uid": "u1"}))["user"]
    # All at one instant: the cap check and the decision record are one write, so the writer's order decides.
    answers = await asyncio.gather(*(choose(client, me, {"selector": "spot"}) for _ in range(24)))
    shown = [p["campaignId"] for answer in answers for p in payloads(answer)]
    assert shown.count("cmp_capped") == 1, shown
    assert shown.count("cmp_fallback") == 23
    rows = db_rows(
        tmp_path / "agent.db",
        "SELECT COUNT(*) FROM decisions WHERE uid = 'u1' AND campaign_id = 'cmp_capped' "
        "AND route = '/choose'",
    )
    assert rows[0][0] == 1
