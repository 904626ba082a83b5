"""One registry of condition operators and one path table serve the bundle validator, the compiler and the
evaluation context: a new operator is one entry in ``storage/condition_operators.py``."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from edge_agent.agent.decide.conditions import ConditionError, compile_condition
from edge_agent.agent.decide.context import EvalContext
from edge_agent.storage.condition_operators import MAX_OPERAND_DEPTH, OPERATORS, Operator
from edge_agent.storage.condition_paths import PATHS, SECTIONS, resolve
from edge_agent.storage.conditions import condition_problems
from tests.agent.decide.builders import context

# bundle.md §2, as written there: every operator it lists, and the four that hold on a missing value.
SPEC_OPERATORS = {
    "eq", "ne", "in", "nin", "contains", "not_contains", "starts_with", "ends_with", "matches",
    "gt", "gte", "lt", "lte", "between", "exists", "not_exists", "is_empty",
}  # fmt: skip
SPEC_TRUE_WHEN_MISSING = {"not_exists", "is_empty", "ne", "nin"}
SPEC_COUNT_OPERATORS = {"eq", "ne", "gt", "gte", "lt", "lte", "between"}


def attr(path: str, op: str, value: Any = None) -> dict[str, Any]:
    node: dict[str, Any] = {"attr": path, "op": op}
    return node if value is None else {**node, "value": value}


def test_the_registry_is_the_operator_list_of_the_bundle_format() -> None:
    assert set(OPERATORS) == SPEC_OPERATORS
    assert {name for name, op in OPERATORS.items() if op.when_missing} == SPEC_TRUE_WHEN_MISSING
    assert {name for name, op in OPERATORS.items() if op.count_check is not None} == SPEC_COUNT_OPERATORS


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_every_operator_validates_compiles_and_has_its_missing_value_rule(name: str) -> None:
    op = OPERATORS[name]
    condition = attr("user.attributes.absent", name, op.example)
    assert condition_problems(condition) == []
    predicate = compile_condition(condition)
    assert predicate(context()) is op.when_missing  # the path is missing in the context
    assert predicate(dataclasses.replace(context(), user={})) is op.when_missing


def test_validator_and_compiler_accept_the_same_operators() -> None:
    for name in [*OPERATORS, "like", "regex", "EQ", ""]:
        condition = attr("ctx.type", name, OPERATORS[name].example if name in OPERATORS else "x")
        accepted = condition_problems(condition) == []
        try:
            compile_condition(condition)
            compiled = True
        except ConditionError:
            compiled = False
        assert accepted is compiled is (name in OPERATORS), name


def _odd_length(value: None) -> Any:
    return lambda actual: isinstance(actual, str | list) and len(actual) % 2 == 1


def test_a_new_operator_is_one_registry_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(OPERATORS, "odd_length", Operator("odd_length", None, _odd_length, when_missing=True))  # type: ignore[arg-type]
    assert condition_problems(attr("ctx.type", "odd_length")) == []
    assert condition_problems(attr("ctx.type", "odd_length", 1)) == ["value: not allowed with 'odd_length'"]
    assert condition_problems({"count": {"event": "e", "withinDays": 1}, "op": "odd_length"}) == [
        "op: 'odd_length' cannot compare a count"
    ]
    predicate = compile_condition(attr("ctx.type", "odd_length"))
    assert predicate(context()) is True  # "PRODUCT" has 7 characters
    assert predicate(context(ctx={"type": "HOME"})) is False
    assert predicate(context(ctx={})) is True  # its own missing-value rule


def test_every_path_reads_a_field_of_the_evaluation_context() -> None:
    fields = {field.name for field in dataclasses.fields(EvalContext)}
    assert set(SECTIONS) <= fields
    assert {path.source for path in PATHS.values()} <= fields
    for example in ("user.attributes.tier", "ctx.utm.utm_medium", "event.items.0.productId", "item.price"):
        found = resolve(example)
        assert found is not None and found.source in fields


def test_hidden_section_keys_are_not_paths() -> None:
    # user.uid and device.brand are in the context for the decision and UserInfo, not for conditions.
    assert condition_problems(attr("user.uid", "exists")) == ["attr: unknown path 'user.uid'"]
    assert condition_problems(attr("device.brand", "exists")) == ["attr: unknown path 'device.brand'"]


def test_a_deeply_nested_operand_is_rejected_not_a_recursion_error() -> None:
    ok: Any = "x"
    for _ in range(MAX_OPERAND_DEPTH):
        ok = [ok]
    assert condition_problems(attr("ctx.data", "eq", ok)) == []
    assert compile_condition(attr("ctx.data", "eq", ok))(context()) is False

    deep: Any = "x"
    for _ in range(100_000):
        deep = {"k": deep}
    [problem] = condition_problems(attr("ctx.data", "ne", deep))
    assert problem.startswith("value: k.k.k")
    assert problem.endswith(f"nested deeper than {MAX_OPERAND_DEPTH} levels")
    with pytest.raises(ConditionError):
        compile_condition(attr("ctx.data", "in", [deep]))
