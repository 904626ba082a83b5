"""The pure rules of the pull: the jittered, stretching schedule, delta application and Retry-After."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from edge_agent.config.settings import load_settings
from edge_agent.sync.jobs import pull_tick_s
from edge_agent.sync.pull_model import (
    DeltaError,
    PullReport,
    apply_delta,
    pull_delay,
)


@pytest.mark.parametrize(("failures", "factor"), [(0, 1), (1, 2), (3, 4), (9, 10), (10, 10), (250, 10)])
def test_the_interval_stretches_with_failures_up_to_ten_times(failures: int, factor: int) -> None:
    rng = random.Random(7)
    delays = [pull_delay(60, failures, rng) for _ in range(2000)]
    assert all(0.8 * 60 * factor <= d <= 1.2 * 60 * factor for d in delays)
    # The jitter really spreads the fleet over the whole ±20 % band.
    assert min(delays) < 0.82 * 60 * factor and max(delays) > 1.18 * 60 * factor


def test_negative_failure_counts_do_not_shrink_the_interval() -> None:
    assert pull_delay(10, -5, random.Random(1)) >= 8


def test_the_pull_tick_is_at_most_a_second() -> None:
    assert pull_tick_s(load_settings(overrides={"sync": {"pull_interval_s": 60}})) == 1.0
    assert pull_tick_s(load_settings(overrides={"sync": {"pull_interval_s": 2}})) == pytest.approx(0.1)


def test_a_report_reached_the_upstream_only_with_a_non_retryable_answer() -> None:
    assert PullReport("not_modified", 0, status=304).reached
    assert PullReport("error", 0, status=404).reached
    assert not PullReport("error", 0, status=503).reached
    assert not PullReport("error", 0, status=429).reached
    assert not PullReport("error", 0).reached


BASE: dict[str, Any] = {
    "schema": 1,
    "version": "v1",
    "generatedAt": "2026-01-01T00:00:00Z",
    "sections": ["s1"],
    "segments": [{"segmentId": "a"}, {"segmentId": "b"}, {"segmentId": "c"}],
    "campaigns": [{"campaignId": "x", "priority": 1}, {"campaignId": "y", "priority": 1}],
    "strategies": [{"strategyId": "s"}],
    "catalog": [{"productId": "p1"}, {"productId": "p2"}],
}


def delta(**parts: Any) -> dict[str, Any]:
    return {"full": False, "base": "v1", "version": "v2", **parts}


def test_a_delta_replaces_in_place_appends_new_items_and_removes_deleted_ones() -> None:
    base = copy.deepcopy(BASE)
    out = apply_delta(
        base,
        delta(
            generatedAt="2026-02-02T00:00:00Z",
            upserts={
                "segments": [{"segmentId": "d"}, {"segmentId": "b", "name": "B2"}],
                "campaigns": [{"campaignId": "x", "priority": 5}],
                "strategies": [],
                "catalog": [{"productId": "p3"}],
            },
            deletes={"segments": ["a"], "campaigns": [], "strategies": ["s"], "catalog": ["p1"]},
        ),
    )
    assert out["version"] == "v2" and out["generatedAt"] == "2026-02-02T00:00:00Z"
    assert out["segments"] == [{"segmentId": "b", "name": "B2"}, {"segmentId": "c"}, {"segmentId": "d"}]
    assert out["campaigns"] == [{"campaignId": "x", "priority": 5}, {"campaignId": "y", "priority": 1}]
    assert out["strategies"] == []
    assert out["catalog"] == [{"productId": "p2"}, {"productId": "p3"}]
    assert out["sections"] == ["s1"] and out["schema"] == 1
    assert base == BASE  # the stored document is never modified


def test_a_delta_without_a_collection_leaves_it_alone() -> None:
    out = apply_delta(BASE, delta(upserts={"catalog": [{"productId": "p9"}]}))
    assert out["segments"] == BASE["segments"] and out["campaigns"] == BASE["campaigns"]
    assert [i["productId"] for i in out["catalog"]] == ["p1", "p2", "p9"]


def test_an_id_both_deleted_and_upserted_ends_up_last() -> None:
    out = apply_delta(
        BASE, delta(upserts={"segments": [{"segmentId": "a", "n": 2}]}, deletes={"segments": ["a"]})
    )
    assert [s["segmentId"] for s in out["segments"]] == ["b", "c", "a"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (delta(upserts={"campaigns": [{"name": "no id"}]}), "upserts.campaigns.0: an item needs"),
        (delta(upserts={"campaigns": ["x"]}), "upserts.campaigns.0: an item needs"),
        (delta(upserts={"catalog": [{"productId": ["p"]}]}), "upserts.catalog.0: an item needs"),
        (delta(deletes={"segments": "a"}), "deletes.segments: must be a list"),
        (delta(deletes={"segments": [["a"]]}), "deletes.segments.0: an id must be"),
        (delta(upserts=[]), "upserts: must be an object"),
        ({"full": False, "base": "v1"}, "version: a delta needs"),
    ],
)
def test_a_malformed_delta_is_refused(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(DeltaError, match=message.replace(".", r"\.")):
        apply_delta(BASE, bad)
