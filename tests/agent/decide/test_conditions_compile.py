"""The condition compiler beyond single comparisons: combinators, segments, count, compile errors, compiling
once, and never raising on odd data."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from edge_agent.agent.decide.conditions import ConditionError, always_true, compile_condition
from edge_agent.agent.decide.context import EvalContext, HistoryEntry
from tests.agent.decide.builders import DAY, NOW, context

Cond = dict[str, Any]

TRUE = {"attr": "ctx.type", "op": "eq", "value": "PRODUCT"}
FALSE = {"attr": "ctx.type", "op": "eq", "value": "CART"}


def attr(path: str, op: str, value: Any = None) -> Cond:
    return {"attr": path, "op": op} if value is None else {"attr": path, "op": op, "value": value}


def holds(condition: dict[str, Any] | None, ctx: EvalContext | None = None) -> bool:
    return compile_condition(condition)(ctx if ctx is not None else context())


# --- combinators -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"all": [TRUE, TRUE]}, True),
        ({"all": [TRUE, FALSE]}, False),
        ({"all": [TRUE]}, True),
        ({"all": [FALSE]}, False),
        ({"all": []}, True),  # vacuous truth, like all([])
        ({"any": [FALSE, TRUE]}, True),
        ({"any": [FALSE, FALSE]}, False),
        ({"any": []}, False),  # like any([])
        ({"not": TRUE}, False),
        ({"not": FALSE}, True),
        ({"not": {"not": TRUE}}, True),
        ({"all": [{"any": [FALSE, TRUE]}, {"not": FALSE}]}, True),
        # not over a missing value: eq on missing is false, so its negation holds
        ({"not": {"attr": "ctx.lng", "op": "eq", "value": "de"}}, True),
    ],
)
def test_combinators(condition: dict[str, Any], expected: bool) -> None:
    assert holds(condition) is expected


def test_no_condition_always_holds() -> None:
    assert compile_condition(None) is always_true
    assert always_true(context())


# --- segments ----------------------------------------------------------------------------------------------


def test_segment_uses_the_membership_callable() -> None:
    asked: list[str] = []

    def member(segment_id: str) -> bool:
        asked.append(segment_id)
        return segment_id == "seg_buyers"

    assert holds({"segment": "seg_buyers"}, context(segments=member))
    assert not holds({"segment": "seg_a"}, context(segments=member))  # the callable wins over segment_list
    assert asked == ["seg_buyers", "seg_a"]


def test_segment_without_callable_falls_back_to_the_list_then_false() -> None:
    assert holds({"segment": "seg_a"}, context(segments=None))
    assert not holds({"segment": "seg_a"}, context(segments=None, segment_list=None))
    assert not holds({"segment": "seg_a"}, context(segments=None, segment_list="seg_a"))  # not substring


def test_segment_callable_failure_is_false(caplog: pytest.LogCaptureFixture) -> None:
    def broken(segment_id: str) -> bool:
        raise RuntimeError("boom")

    with caplog.at_level(logging.WARNING):
        assert not holds({"segment": "seg_a"}, context(segments=broken))
    assert "segment condition" in caplog.text


# --- count -------------------------------------------------------------------------------------------------


def entry(kind: str, days_ago: float, event: dict[str, Any] | None = None, **ctx: Any) -> HistoryEntry:
    return HistoryEntry(type=kind, at=NOW - days_ago * DAY, event=event or {}, ctx=ctx)


HISTORY = [
    entry("purchase-v1", 1, {"revenue": 120, "customProps": {"rating": 5}}, type="CART"),
    entry("purchase-v1", 10, {"revenue": 20}, type="CART"),
    entry("purchase-v1", 100, {"revenue": 500}),
    entry("add_to_cart-v1", 0.5, {"productId": "sku-1"}, type="PRODUCT"),
    entry("visit", 0.1, type="PRODUCT", data=["sku-1"]),
    entry("visit", 0.2, type="PRODUCT", data=["sku-2"]),
    entry("visit", 3, type="HOMEPAGE", data=[]),
    entry("visit", 40, type="PRODUCT", data=["sku-3"]),
]


def count(event: str, days: float, op: str, value: Any, where: Cond | None = None) -> Cond:
    spec: dict[str, Any] = {"event": event, "withinDays": days}
    if where is not None:
        spec["where"] = where
    return {"count": spec, "op": op, "value": value}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (count("purchase-v1", 90, "eq", 2), True),  # the 100-day-old purchase is outside the window
        (count("purchase-v1", 365, "eq", 3), True),
        (count("purchase-v1", 5, "eq", 1), True),
        (count("purchase-v1", 90, "gte", 3), False),
        (count("purchase-v1", 90, "between", [1, 2]), True),
        (count("purchase-v1", 90, "ne", 2), False),
        (count("refund-v1", 90, "eq", 0), True),  # no entries of a type counts zero
        (count("refund-v1", 90, "gt", 0), False),
        (count("purchase-v1", 90, "eq", 1, {"attr": "event.revenue", "op": "gt", "value": 100}), True),
        (count("purchase-v1", 90, "eq", 1, attr("event.customProps.rating", "gte", 4)), True),
        (count("purchase-v1", 90, "eq", 2, {"attr": "ctx.type", "op": "eq", "value": "CART"}), True),
        # visits: where sees each entry's ctx, not the current request's ctx (which is PRODUCT / sku-1, sku-2)
        (count("visit", 30, "eq", 2, {"attr": "ctx.type", "op": "eq", "value": "PRODUCT"}), True),
        (count("visit", 30, "eq", 1, {"attr": "ctx.data", "op": "contains", "value": "sku-2"}), True),
        (count("visit", 30, "eq", 1, {"attr": "ctx.data", "op": "is_empty"}), True),
        (count("visit", 30, "eq", 0, attr("event.revenue", "exists")), True),  # visits have no event
        # everything outside event.* / ctx.* still reads the current request
        (count("visit", 30, "eq", 3, {"attr": "user.attributes.tier", "op": "eq", "value": "gold"}), True),
        (count("visit", 30, "eq", 3, {"segment": "seg_a"}), True),
    ],
)
def test_count(condition: dict[str, Any], expected: bool) -> None:
    assert holds(condition, context(history=HISTORY)) is expected


def test_count_window_edge_is_inclusive_and_future_entries_count() -> None:
    history = [
        HistoryEntry(type="e", at=NOW - 7 * DAY, event={}, ctx={}),  # exactly on the edge
        HistoryEntry(type="e", at=NOW - 7 * DAY - 1, event={}, ctx={}),  # one second too old
        HistoryEntry(type="e", at=NOW + 60, event={}, ctx={}),  # a device clock running ahead
    ]
    assert holds(count("e", 7, "eq", 2), context(history=history))


def test_count_skips_odd_entries_instead_of_failing() -> None:
    history = [
        HistoryEntry(type="e", at="yesterday", event={}, ctx={}),  # type: ignore[arg-type]
        HistoryEntry(type="e", at=True, event={}, ctx={}),
        HistoryEntry(type="e", at=NOW, event=None, ctx=None),  # type: ignore[arg-type]
    ]
    ctx = context(history=history)
    assert holds(count("e", 7, "eq", 1), ctx)
    assert holds(count("e", 7, "eq", 0, {"attr": "event.x", "op": "exists"}), ctx)
    assert holds(count("e", 7, "eq", 1, {"attr": "ctx.type", "op": "not_exists"}), ctx)


def test_count_leaves_the_callers_context_untouched() -> None:
    ctx = context(history=HISTORY)
    before_event, before_ctx = ctx.event, ctx.ctx
    assert holds(count("visit", 30, "gte", 1, {"attr": "ctx.type", "op": "exists"}), ctx)
    assert ctx.event is before_event and ctx.ctx is before_ctx
    # ... and a count next to other leaves does not leak an entry's ctx into them
    assert holds({"all": [count("visit", 30, "gte", 1, {"attr": "ctx.type", "op": "eq", "value": "HOMEPAGE"}),
                          {"attr": "ctx.data", "op": "contains", "value": "sku-2"}]}, ctx)  # fmt: skip


def test_context_copies_for_events_items_and_entries() -> None:
    ctx = context()
    assert ctx.with_event({"a": 1}).event == {"a": 1} and ctx.event != {"a": 1}
    assert ctx.with_item({"productId": "x"}).item == {"productId": "x"}
    seen = ctx.for_entry(HISTORY[0])
    assert seen.event is HISTORY[0].event and seen.ctx is HISTORY[0].ctx and seen.user is ctx.user


# --- compile errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        ("ctx.type", "", "must be a condition object"),
        ([TRUE], "", "must be a condition object"),
        ({}, "", "must have one of all, any, not, attr, segment, count"),
        ({"all": [TRUE, attr("ctx.type", "foo", 1)]}, "all.1.op", "unknown operator 'foo'"),
        ({"any": [{"attr": "user.bogus", "op": "exists"}]}, "any.0.attr", "unknown path 'user.bogus'"),
        ({"not": 3}, "not", "must be a condition object"),
        ({"attr": "ctx.location", "op": "matches", "value": "("}, "value", "invalid regular expression: "),
        ({"attr": "cart.value", "op": "between", "value": [1]}, "value", "must be [lo, hi]"),
        (count("e", -1, "gt", 0), "count.withinDays", "must be a positive number"),
    ],
)
def test_bad_input_raises_condition_error_with_its_path(raw: Any, path: str, message: str) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition(raw)
    assert caught.value.path == path
    assert caught.value.message.startswith(message)
    assert str(caught.value).startswith(f"{path or 'condition'}: {message}")
    assert isinstance(caught.value, ValueError)


# --- compiled once, never raising --------------------------------------------------------------------------


def test_compiled_predicate_no_longer_reads_the_json(monkeypatch: pytest.MonkeyPatch) -> None:
    raw: dict[str, Any] = {
        "all": [
            {"attr": "ctx.referrer", "op": "matches", "value": r"google\."},
            {"attr": "ctx.type", "op": "in", "value": ["PRODUCT"]},
        ]
    }
    predicate = compile_condition(raw)
    raw["all"][0]["value"] = "nomatch"
    raw["all"][1]["attr"] = "ctx.lng"
    raw["all"].append({"attr": "ctx.type", "op": "eq", "value": "CART"})

    def no_compiling(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("regex compiled at evaluation time")

    monkeypatch.setattr(re, "compile", no_compiling)
    assert predicate(context())


class ExplodingDict(dict[str, Any]):
    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")


def test_a_leaf_that_fails_anyway_is_false_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    ctx = context(ctx=ExplodingDict(type="PRODUCT"))
    with caplog.at_level(logging.WARNING):
        assert not holds({"attr": "ctx.type", "op": "eq", "value": "PRODUCT"}, ctx)
        assert not holds({"attr": "ctx.type", "op": "ne", "value": "x"}, ctx)
    assert "condition (root) failed" in caplog.text


ODD_VALUES = [10**400, float("nan"), float("inf"), -0.0, "", "\x00", "é" * 999, [[1]], {"a": {}}, [None]]


@pytest.mark.parametrize("actual", ODD_VALUES, ids=repr)
@pytest.mark.parametrize(
    ("op", "value"),
    [
        ("eq", 1), ("eq", "x"), ("eq", [1]), ("eq", {"a": 1}), ("eq", True), ("ne", 1),
        ("in", [1, "x", None]), ("nin", [[1]]), ("contains", 1), ("contains", "a"), ("not_contains", "a"),
        ("starts_with", "x"), ("ends_with", "x"), ("matches", "."), ("gt", 1), ("gte", "a"), ("lt", 1.5),
        ("lte", 0), ("between", [0, 1]), ("between", ["a", "b"]), ("exists", None), ("not_exists", None),
        ("is_empty", None),
    ],
)  # fmt: skip
def test_odd_actual_values_never_raise(
    actual: Any, op: str, value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    condition: dict[str, Any] = {"attr": "event.v", "op": op}
    if value is not None:
        condition["value"] = value
    result = holds(condition, context(event={"v": actual}))
    assert isinstance(result, bool)
    assert "failed" not in caplog.text  # handled by the semantics, not by the safety net


def test_huge_and_special_numbers_compare_sanely() -> None:
    ev = {"big": 10**400, "nan": float("nan"), "inf_text": "1e999"}
    ctx = context(event=ev)
    assert holds({"attr": "event.big", "op": "gt", "value": 1e300}, ctx)
    assert not holds({"attr": "event.nan", "op": "eq", "value": 1}, ctx)
    assert not holds({"attr": "event.nan", "op": "gte", "value": 0}, ctx)
    assert not holds({"attr": "event.inf_text", "op": "gt", "value": 0}, ctx)  # not a finite number


def test_demo_bundle_conditions_compile_and_decide(demo_bundle: dict[str, Any]) -> None:
    buyers, product_browsers, paid = (compile_condition(s["condition"]) for s in demo_bundle["segments"][:3])
    purchase = HistoryEntry(type="purchase-v1", at=NOW - DAY, event={}, ctx={})
    assert buyers(context(history=[purchase]))
    assert not buyers(context(history=[]))
    assert product_browsers(context())  # PRODUCT page, 3 pageviews
    assert not product_browsers(context(session={"pageviews": 1}))
    assert paid(context())
    assert not paid(context(traffic_source="Direct"))
