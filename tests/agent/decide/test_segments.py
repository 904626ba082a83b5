"""Segments (bundle.md §3): references between segments, the ``user.segments`` list, cycles, laziness."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from edge_agent.agent.bundles import compile_checked
from edge_agent.agent.decide.compiled import CompiledBundle
from edge_agent.agent.decide.conditions import compile_condition
from edge_agent.agent.decide.segments import SegmentCache
from edge_agent.errors import BundleInvalid
from edge_agent.storage.bundles import parse_bundle
from tests.agent.campaign_kit import campaign, make_bundle, pageload, user_info, visit
from tests.agent.decide.builders import context
from tests.conftest import MakeClient


def attr(path: str, op: str, value: Any) -> dict[str, Any]:
    return {"attr": path, "op": op, "value": value}


def compiled(segments: list[dict[str, Any]]) -> CompiledBundle:
    return compile_checked(parse_bundle(make_bundle([], segments))[0])


def members(bundle: CompiledBundle, **changes: Any) -> list[str]:
    ctx = dataclasses.replace(context(), segments=None, segment_list=None, **changes)
    return SegmentCache.attach(bundle.segments, bundle.list_dependent, ctx).ids()


GOLD = {"segmentId": "gold", "condition": attr("user.attributes.tier", "eq", "gold")}
MOBILE = {"segmentId": "mobile", "condition": attr("device.type", "eq", "mobile")}


def test_segments_can_reference_segments_in_any_order() -> None:
    bundle = compiled(
        [
            {"segmentId": "gold_mobile", "condition": {"all": [{"segment": "gold"}, {"segment": "mobile"}]}},
            {"segmentId": "not_gold", "condition": {"not": {"segment": "gold"}}},
            GOLD,
            MOBILE,
        ]
    )
    assert members(bundle) == ["gold_mobile", "gold", "mobile"]
    assert members(bundle, device={"type": "desktop"}) == ["gold"]
    assert members(bundle, user={"attributes": {"tier": "silver"}}) == ["not_gold", "mobile"]


def test_a_reference_cycle_rejects_the_bundle() -> None:
    cyclic = [
        {"segmentId": "a", "condition": {"any": [{"segment": "b"}, GOLD["condition"]]}},
        {"segmentId": "b", "condition": {"not": {"segment": "c"}}},
        {"segmentId": "c", "condition": {"segment": "a"}},
    ]
    with pytest.raises(BundleInvalid) as caught:
        compiled(cyclic)
    assert caught.value.errors == ["segments.0.condition: segment reference cycle: a → b → c → a"]
    with pytest.raises(BundleInvalid):
        compiled([{"segmentId": "self", "condition": {"segment": "self"}}])


def test_inside_a_segment_user_segments_lists_only_segments_not_built_on_the_list() -> None:
    bundle = compiled(
        [
            {"segmentId": "many", "condition": attr("user.segments", "contains", "gold")},
            {"segmentId": "via_many", "condition": {"segment": "many"}},
            {"segmentId": "sees_many", "condition": attr("user.segments", "contains", "many")},
            GOLD,
        ]
    )
    assert bundle.list_dependent == {"many", "via_many", "sees_many"}
    # "sees_many" cannot see "many" (both are built on the list), whichever is asked first.
    assert members(bundle) == ["many", "via_many", "gold"]
    ctx = dataclasses.replace(context(), segments=None, segment_list=None)
    cache = SegmentCache.attach(bundle.segments, bundle.list_dependent, ctx)
    assert cache.member("sees_many") is False
    assert cache.ids() == ["many", "via_many", "gold"]


def test_membership_is_evaluated_lazily_and_once() -> None:
    calls: list[str] = []

    def counting(segment_id: str, raw: dict[str, Any]) -> Any:
        predicate = compile_condition(raw)

        def run(ctx: Any) -> bool:
            calls.append(segment_id)
            return predicate(ctx)

        return run

    predicates = {
        "gold": counting("gold", GOLD["condition"]),
        "mobile": counting("mobile", MOBILE["condition"]),
        "both": counting("both", {"all": [{"segment": "gold"}, {"segment": "mobile"}]}),
    }
    ctx = dataclasses.replace(context(), segments=None, segment_list=None)
    cache = SegmentCache.attach(predicates, frozenset(), ctx)
    assert compile_condition({"segment": "gold"})(ctx)
    assert calls == ["gold"]
    assert compile_condition(attr("user.segments", "contains", "both"))(ctx)
    assert cache.ids() == ["gold", "mobile", "both"]
    assert sorted(calls) == ["both", "gold", "mobile"]  # each once, however often asked


SEG_BUNDLE = make_bundle(
    [
        campaign("cmp_gold_only", triggers=[pageload()], audience={"segment": "gold_mobile"}, priority=2),
        campaign(
            "cmp_list",
            triggers=[pageload()],
            audience=attr("user.segments", "contains", "mobile"),
            priority=1,
        ),
    ],
    [
        {"segmentId": "gold_mobile", "condition": {"all": [{"segment": "gold"}, {"segment": "mobile"}]}},
        GOLD,
        MOBILE,
    ],
)


async def test_segments_drive_campaigns_and_are_returned_in_user_info(make_client: MakeClient) -> None:
    client = await make_client(bundle=SEG_BUNDLE, decision={"max_campaigns": 5})
    plain = await visit(client, {"uid": "plain"})
    assert [c["campaignId"] for c in plain["campaigns"]] == ["cmp_list"]  # the app UA is a mobile

    gold = {"uid": "vip", "attributes": {"tier": "gold"}}
    answer = await visit(client, gold, options={"isReturnUserInfo": True})
    assert [c["campaignId"] for c in answer["campaigns"]] == ["cmp_gold_only", "cmp_list"]
    assert answer["user"]["segments"] == ["gold_mobile", "gold", "mobile"]
    assert (await user_info(client, {"uid": "plain"}))["segments"] == ["mobile"]
