"""RtRule semantics on single items (``decide/rtrules.py``) and lenient strategy ``params``."""

from __future__ import annotations

from typing import Any

import pytest

from edge_agent.agent.decide.rankers import Params
from edge_agent.agent.decide.rtrules import arrange, compile_rules
from edge_agent.agent.wire import RtRuleIn

ITEM: dict[str, Any] = {
    "productId": "sku-1",
    "price": 199.5,
    "stock": 3,
    "inStock": True,
    "category": "shoes",
    "tags": ["sale", "summer"],
    "name": "Trail shoes",
    "specs": {"color": "red"},
}


def keeps(action: str, values: list[Any], field: str, item: dict[str, Any] = ITEM) -> bool:
    raw = {
        "type": "filter",
        "conditions": [{"field": field, "arguments": [{"action": action, "value": values}]}],
    }
    rules = compile_rules([RtRuleIn.model_validate(raw)])
    return bool(arrange([item], rules, lambda i: i))


@pytest.mark.parametrize(
    ("action", "values", "field", "expected"),
    [
        ("eq", ["199.5"], "price", True),
        ("eq", ["199.50"], "price", True),  # numeric, not textual, equality
        ("ne", ["199.5"], "price", False),
        ("gt", ["199"], "price", True),
        ("gte", ["199.5"], "price", True),
        ("lt", ["199.5"], "price", False),
        ("lte", ["3"], "stock", True),
        ("gt", ["cheap"], "price", False),  # a value that is no number never compares
        ("in", ["1", "2", "3"], "stock", True),
        ("nin", ["1", "2", "3"], "stock", False),
        ("eq", ["true"], "inStock", True),
        ("eq", ["false"], "inStock", False),
        ("eq", ["SHOES"], "category", False),  # strings compare exactly
        ("contains", ["rail"], "name", True),
        ("contains", ["summer"], "tags", True),  # membership on a list field
        ("in", ["sale", "winter"], "tags", True),  # any element
        ("nin", ["sale"], "tags", False),
        ("nin", ["winter"], "tags", True),
        ("eq", ["red"], "specs.color", True),  # dotted path into a nested object
        ("eq", ["x"], "missing", False),  # a missing field matches only the negations
        ("ne", ["x"], "missing", True),
        ("nin", ["x"], "missing", True),
        ("gt", [], "price", False),
    ],
)
def test_actions(action: str, values: list[Any], field: str, expected: bool) -> None:
    assert keeps(action, values, field) is expected


def test_a_rule_whose_only_condition_has_unknown_actions_is_ignored() -> None:
    raw = {
        "type": "exclude",
        "conditions": [{"field": "price", "arguments": [{"action": "near", "value": ["1"]}]}],
    }
    assert compile_rules([RtRuleIn.model_validate(raw)]) == []
    assert compile_rules(
        [RtRuleIn.model_validate({"type": "exclude", "conditions": []})]
    )  # kept: matches all


def test_slot_numbers_below_one_never_apply() -> None:
    raw = {"type": "exclude", "slots": [0, -1], "conditions": []}
    rules = compile_rules([RtRuleIn.model_validate(raw)])
    assert arrange([1, 2], rules, lambda n: {"n": n}) == [1, 2]


def test_params_read_leniently() -> None:
    assert Params.read({}) == Params()
    odd = Params.read(
        {"windowDays": "30", "recentDays": -1, "limit": True, "attribute": 3, "items": [1, None, "a"]}
    )
    assert (odd.window_days, odd.recent_days, odd.limit, odd.attribute) == (30.0, 7.0, None, "category")
    assert odd.items == ("1", "a")
    weighted = Params.read({"weights": {"purchases": 5, "views": "x"}})
    assert weighted.score((2, 1, 1)) == 2 + 1 + 5
