"""Variation allocation (bundle.md §4): deterministic, weighted, sticky across restarts and weight changes;
control variations answer an entry without contents and are recorded as control decisions."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from edge_agent.agent.bundles import compile_checked
from edge_agent.agent.decide.compiled import CompiledExperience, allocation_point
from edge_agent.clock import ManualClock
from edge_agent.storage.bundles import parse_bundle
from tests.agent.campaign_kit import (
    campaign,
    choose,
    event,
    experience,
    make_bundle,
    payloads,
    purchase,
    variation,
)
from tests.conftest import MakeClient
from tests.helpers import db_rows


def ab_bundle(weights: dict[str, float], version: str) -> dict[str, Any]:
    variations = [variation(v, w) for v, w in weights.items()]
    return make_bundle(
        [campaign("cmp_ab", selector="ab", experiences=[experience("exp_ab", variations)])], version=version
    )


def compiled_experience(weights: dict[str, float]) -> CompiledExperience:
    bundle = compile_checked(parse_bundle(ab_bundle(weights, "x"))[0])
    return bundle.by_id["cmp_ab"].experiences[0]


@pytest.mark.parametrize(
    "weights",
    [{"var_a": 50, "var_b": 50}, {"var_a": 50, "var_b": 30, "var_c": 20}, {"var_a": 90, "var_b": 10},
     {"var_a": 1, "var_b": 0, "var_c": 3}],
)  # fmt: skip
def test_distribution_is_within_two_points_of_the_weights_over_10000_uids(weights: dict[str, float]) -> None:
    exp = compiled_experience(weights)
    counts = Counter(exp.allocate(f"{i:024x}", None).variation_id for i in range(10_000))
    total = sum(weights.values())
    for variation_id, weight in weights.items():
        assert counts[variation_id] / 10_000 == pytest.approx(weight / total, abs=0.02), counts
    assert all(counts[v] == 0 for v, w in weights.items() if w == 0)  # a zero weight is never allocated


def test_allocation_is_deterministic_and_a_stored_variation_wins() -> None:
    exp = compiled_experience({"var_a": 50, "var_b": 50})
    picks = [exp.allocate(f"uid-{i}", None).variation_id for i in range(200)]
    assert picks == [exp.allocate(f"uid-{i}", None).variation_id for i in range(200)]
    assert {exp.allocate(f"uid-{i}", "var_b").variation_id for i in range(200)} == {"var_b"}
    assert exp.allocate("uid-1", "var_gone").variation_id == picks[1]  # a removed variation: hash again


async def variations_over_http(client: Any, uids: list[str], clock: ManualClock) -> dict[str, str]:
    out: dict[str, str] = {}
    for uid in uids:
        clock.advance(0.001)
        (entry,) = payloads(await choose(client, {"uid": uid}, {"selector": "ab"}))
        out[uid] = entry["variationId"]
    return out


UIDS = [f"{i:024x}" for i in range(400)]


async def test_http_allocation_matches_the_function_and_the_weights(
    make_client: MakeClient, clock: ManualClock
) -> None:
    client = await make_client(bundle=ab_bundle({"var_a": 50, "var_b": 50}, "v1"))
    got = await variations_over_http(client, UIDS, clock)
    exp = compiled_experience({"var_a": 50, "var_b": 50})
    assert got == {uid: exp.allocate(uid, None).variation_id for uid in UIDS}
    assert 0.4 < Counter(got.values())["var_a"] / len(UIDS) < 0.6


async def test_assignments_survive_a_restart_and_a_weight_change(
    make_client: MakeClient, clock: ManualClock, tmp_path: Path
) -> None:
    first = await make_client(bundle=ab_bundle({"var_a": 50, "var_b": 50}, "v1"))
    before = await variations_over_http(first, UIDS[:100], clock)
    assert set(before.values()) == {"var_a", "var_b"}
    await first.close()

    # A new app on the same database file, with a bundle that now sends everyone new to var_b.
    second = await make_client(bundle=ab_bundle({"var_a": 0, "var_b": 100}, "v2"))
    after = await variations_over_http(second, UIDS[:100], clock)
    assert after == before
    newcomers = await variations_over_http(second, UIDS[100:150], clock)
    assert set(newcomers.values()) == {"var_b"}
    stored = db_rows(
        tmp_path / "agent.db", "SELECT uid, variation_id FROM assignments WHERE experience_id = 'exp_ab'"
    )
    assert {r["uid"]: r["variation_id"] for r in stored} == {**before, **newcomers}


async def test_a_variation_removed_from_the_bundle_is_reassigned(
    make_client: MakeClient, clock: ManualClock, tmp_path: Path
) -> None:
    first = await make_client(bundle=ab_bundle({"var_a": 50, "var_b": 50}, "v1"))
    before = await variations_over_http(first, UIDS[:40], clock)
    await first.close()
    second = await make_client(bundle=ab_bundle({"var_b": 50, "var_c": 50}, "v2"))
    after = await variations_over_http(second, UIDS[:40], clock)
    assert all(after[u] == "var_b" for u, v in before.items() if v == "var_b")
    assert {after[u] for u, v in before.items() if v == "var_a"} <= {"var_b", "var_c"}
    stored = db_rows(tmp_path / "agent.db", "SELECT uid, variation_id FROM assignments")
    assert {r["uid"]: r["variation_id"] for r in stored} == after


def demo_uid(control: bool) -> str:
    """A uid the thank-you experience (90 % modal, then 10 % control) puts in control, or not."""
    return next(
        uid
        for uid in (f"{i:024x}" for i in range(1000))
        if (allocation_point(uid, "exp_thanks01") >= 0.9) == control
    )


@pytest.mark.parametrize("control", [True, False])
async def test_control_answers_the_ids_without_contents_and_is_recorded_as_control(
    make_client: MakeClient, tmp_path: Path, control: bool
) -> None:
    client = await make_client()  # the packaged demo bundle
    me = (await event(client, {"uid": demo_uid(control)}, purchase(10.0, ("sku-1001", 1, 10.0))))["user"]
    (entry,) = payloads(await choose(client, me, {"campaignId": "cmp_thanks01"}))
    assert entry["decisionId"] == f"gf:6819e7c0d7303f0f6b0ef263:{me['uid']}:1790000000"
    if control:
        assert entry == {
            "campaignId": "cmp_thanks01",
            "experienceId": "exp_thanks01",
            "variationId": "var_thanks01ctrl",
            "decisionId": entry["decisionId"],
            "contents": [],
        }
    else:
        assert entry["variationId"] == "var_thanks01a"
        assert [c["contentId"] for c in entry["contents"]] == [
            "cnt_thanks01:3f9ad0c2b7e14a55a0d3c1e2f4b5a6c7"
        ]
    (row,) = db_rows(tmp_path / "agent.db", "SELECT * FROM decisions WHERE uid = ?", (me["uid"],))
    assert (row["decision_id"], row["campaign_id"], row["experience_id"], row["variation_id"]) == (
        entry["decisionId"], "cmp_thanks01", "exp_thanks01", entry["variationId"],
    )  # fmt: skip
    assert (row["ses"], row["at"], row["control"]) == (me["ses"], 1_790_000_000.0, int(control))
