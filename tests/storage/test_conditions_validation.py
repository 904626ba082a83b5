"""Structural validation of conditions: what is accepted, and the exact message for what is not."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from edge_agent.storage.condition_operators import OPERATORS
from edge_agent.storage.condition_paths import FIXED_PATHS
from edge_agent.storage.conditions import MAX_DEPTH, condition_issues, condition_problems, path_problem


def attr(path: str, op: str = "eq", value: Any = "x") -> dict[str, Any]:
    return {"attr": path, "op": op, "value": value}


def count(spec: Any, op: str | None = "gte", value: Any = 1) -> dict[str, Any]:
    node: dict[str, Any] = {"count": spec, "value": value}
    return node if op is None else {**node, "op": op}


E = {"event": "e", "withinDays": 1}

VALID: list[dict[str, Any]] = [
    attr("ctx.type", "eq", "HOMEPAGE"),
    attr("user.attributes.tier", "in", ["gold", "silver"]),
    attr("user.attributes.app.version", "starts_with", "2."),  # the key after the prefix may contain dots
    attr("ctx.utm.utm_medium", "ne", "cpc"),
    attr("ctx.attributes.app_platform", "eq", "iOS"),
    attr("event.customProps.rating", "gte", 4),
    attr("event.items.0.productId", "eq", "sku-1"),
    attr("item.inStock", "eq", True),
    attr("item.createdAt", "between", ["2024-01-01", "2024-12-31"]),
    attr("cart.value", "between", [10, 99.5]),
    attr("ctx.data", "eq", ["sku-1", "sku-2"]),
    attr("ctx.data", "contains", "sku-1"),
    attr("ctx.pageNumber", "contains", 2),
    attr("ctx.referrer", "matches", r"^https?://(www\.)?google\."),
    attr("ctx.data", "in", []),
    {"attr": "user.custom", "op": "exists"},
    {"attr": "user.custom", "op": "not_exists", "value": None},  # null is tolerated as absent
    {"attr": "ctx.data", "op": "is_empty"},
    {"all": []},
    {"any": []},
    {"not": {"segment": "seg_buyers"}},
    {"all": [{"any": [attr("ctx.type")]}, {"not": attr("ctx.lng", "eq", "en")}]},
    count({"event": "purchase-v1", "withinDays": 90}),
    count({"event": "visit", "withinDays": 0.5, "where": attr("ctx.type")}, "between", [1, 3]),
    count({"event": "visit", "withinDays": 7, "where": None}, "eq", 0),
    {"segment": "seg_x", "comment": "unknown keys are ignored, like elsewhere in the bundle"},
]


@pytest.mark.parametrize("condition", VALID, ids=lambda c: str(c)[:60])
def test_valid_conditions_have_no_problems(condition: dict[str, Any]) -> None:
    assert condition_problems(condition) == []


@pytest.mark.parametrize("path", sorted(FIXED_PATHS))
def test_every_fixed_path_is_accepted(path: str) -> None:
    assert path_problem(path) is None
    assert condition_problems(attr(path, "exists", None)) == []


INVALID: list[tuple[Any, list[str]]] = [
    ("ctx.type", ["condition: must be a condition object"]),
    ({}, ["condition: must have one of all, any, not, attr, segment, count"]),
    ({"all": [attr("ctx.type"), attr("ctx.type", "foo")]}, ["all.1.op: unknown operator 'foo'"]),
    ({"any": [attr("user.bogus")]}, ["any.0.attr: unknown path 'user.bogus'"]),
    ({"not": "x"}, ["not: must be a condition object"]),
    ({"not": None}, ["not: must be a condition object"]),
    ({"all": {"attr": "ctx.type"}}, ["all: must be a list of conditions"]),
    ({"all": [], "attr": "ctx.type"}, ["condition: ambiguous: has both 'all' and 'attr'"]),
    ({"all": [], "op": "eq"}, ["op: not allowed in a 'all' condition"]),
    ({"segment": "s", "value": 1}, ["value: not allowed in a 'segment' condition"]),
    ({"segment": ""}, ["segment: must be a non-empty segment id"]),
    ({"segment": 3}, ["segment: must be a non-empty segment id"]),
    (attr("user.attributes."), ["attr: unknown path 'user.attributes.'"]),
    (attr("user.attributes"), ["attr: unknown path 'user.attributes'"]),
    (attr("event"), ["attr: unknown path 'event'"]),
    (attr("event.a..b"), ["attr: unknown path 'event.a..b'"]),
    (attr("ctx.utm"), ["attr: unknown path 'ctx.utm'"]),
    (attr("time.minute"), ["attr: unknown path 'time.minute'"]),
    (attr(5), ["attr: must be a string"]),  # type: ignore[arg-type]
    ({"attr": "ctx.type", "value": 1}, ["op: required"]),
    ({"attr": "ctx.type", "op": 1, "value": 1}, ["op: must be a string"]),
    ({"attr": "ctx.type", "op": "eq"}, ["value: required"]),
    (attr("ctx.type", "eq", None), ["value: required"]),
    ({"attr": "ctx.type", "op": "exists", "value": False}, ["value: not allowed with 'exists'"]),
    (attr("ctx.data", "in", "sku-1"), ["value: must be a list"]),
    (attr("ctx.data", "nin", {"a": 1}), ["value: must be a list"]),
    (attr("ctx.data", "contains", ["a"]), ["value: must be a string, number or boolean"]),
    (attr("ctx.location", "starts_with", 1), ["value: must be a string"]),
    (attr("ctx.location", "ends_with", True), ["value: must be a string"]),
    (attr("cart.value", "gt", True), ["value: must be a number or a string"]),
    (attr("cart.value", "lte", [1]), ["value: must be a number or a string"]),
    (attr("cart.value", "between", 5), ["value: must be [lo, hi]"]),
    (attr("cart.value", "between", [1, 2, 3]), ["value: must be [lo, hi]"]),
    (attr("cart.value", "between", [1, "9"]), ["value: must be [lo, hi] of two numbers or two strings"]),
    (attr("cart.value", "between", [9, 1]), ["value: lo must not be greater than hi"]),
    (attr("ctx.location", "matches", "x" * 257), ["value: pattern longer than 256 characters"]),
    (attr("ctx.location", "matches", 3), ["value: must be a string"]),
    (count("purchase"), ["count: must be an object with event, withinDays and optional where"]),
    (count({"withinDays": 1}), ["count.event: must be a non-empty event type (or 'visit')"]),
    (count({"event": "e", "withinDays": 0}), ["count.withinDays: must be a positive number"]),
    (count({"event": "e", "withinDays": True}), ["count.withinDays: must be a positive number"]),
    (count({"event": "e"}), ["count.withinDays: must be a positive number"]),
    (count(E, "contains", 1), ["op: 'contains' cannot compare a count"]),
    (count(E, "gte", "1"), ["value: must be a number"]),
    (count(E, "gte", None), ["value: required"]),
    (count(E, "between", ["a", "b"]), ["value: must be [lo, hi] of two numbers"]),
    (count(E, None), ["op: required"]),
    (count({**E, "where": {"attr": "ctx.no", "op": "exists"}}), ["count.where.attr: unknown path 'ctx.no'"]),
    (count({**E, "where": {"not": count(E)}}), ["count.where.not.count: not allowed inside count.where"]),
]  # fmt: skip


@pytest.mark.parametrize(("condition", "expected"), INVALID, ids=lambda c: str(c)[:60])
def test_invalid_conditions_report_exact_problems(condition: Any, expected: list[str]) -> None:
    assert condition_problems(condition) == expected


def test_invalid_regex_is_reported_with_the_reason() -> None:
    [problem] = condition_problems(attr("ctx.location", "matches", "(unclosed"))
    assert problem.startswith("value: invalid regular expression: ")
    assert "missing )" in problem


def test_pattern_of_exactly_256_characters_is_accepted() -> None:
    assert condition_problems(attr("ctx.location", "matches", "a" * 256)) == []


def test_every_problem_is_listed_with_the_bundle_location() -> None:
    condition = {
        "all": [
            attr("user.bogus", "foo"),
            {"not": 1},
            count({"event": "", "withinDays": -1}),
        ]
    }
    assert condition_problems(condition, "segments.3.condition") == [
        "segments.3.condition.all.0.attr: unknown path 'user.bogus'",
        "segments.3.condition.all.0.op: unknown operator 'foo'",
        "segments.3.condition.all.1.not: must be a condition object",
        "segments.3.condition.all.2.count.event: must be a non-empty event type (or 'visit')",
        "segments.3.condition.all.2.count.withinDays: must be a positive number",
    ]
    assert condition_problems("nope", "campaigns.0.audience") == [
        "campaigns.0.audience: must be a condition object"
    ]


def test_nesting_is_limited_so_nothing_overflows_the_stack() -> None:
    ok: dict[str, Any] = attr("ctx.type")
    for _ in range(MAX_DEPTH):
        ok = {"not": ok}
    assert condition_problems(ok) == []

    deep: dict[str, Any] = attr("ctx.type")
    for _ in range(10_000):
        deep = {"not": deep}
    [problem] = condition_problems(deep)
    assert problem.endswith(f"not: nesting deeper than {MAX_DEPTH} levels")


def test_issues_are_relative_pairs() -> None:
    assert condition_issues({"any": [attr("ctx.type", "foo")]}) == [("any.0.op", "unknown operator 'foo'")]
    assert condition_issues(None) == [("", "must be a condition object")]


UNARY = {"exists", "not_exists", "is_empty"}


@pytest.mark.parametrize("op", sorted(OPERATORS))
def test_every_operator_has_a_value_rule(op: str) -> None:
    # A missing value is only right for the unary operators; every other one must ask for it.
    problem = condition_problems({"attr": "ctx.type", "op": op})
    assert problem == ([] if op in UNARY else ["value: required"])


def test_demo_bundle_conditions_are_valid(demo_bundle: dict[str, Any]) -> None:
    conditions = [segment["condition"] for segment in demo_bundle["segments"]]
    for campaign in demo_bundle["campaigns"]:
        conditions += [t["condition"] for t in campaign.get("triggers", []) if "condition" in t]
        conditions += [campaign["audience"]] if "audience" in campaign else []
        conditions += [e["audience"] for e in campaign["experiences"] if "audience" in e]
    conditions += [s["filter"] for s in demo_bundle["strategies"] if "filter" in s]
    assert len(conditions) >= 5
    for condition in conditions:
        assert condition_problems(condition) == []


def test_storage_module_does_not_import_the_agent() -> None:
    # A fresh interpreter: this test process has long imported both.
    probe = (
        "import sys, edge_agent.storage.conditions; "
        "print(sorted(m for m in sys.modules if m == 'aiohttp' or m.startswith('edge_agent.agent')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
