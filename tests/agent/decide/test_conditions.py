"""The condition compiler, table-driven (bundle.md §2): every path and every operator, each with matching,
non-matching, missing and type-mismatched values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from edge_agent.agent.decide.conditions import compile_condition
from edge_agent.agent.decide.context import EvalContext
from edge_agent.storage.condition_operators import OPERATORS
from edge_agent.storage.condition_paths import FIXED_PATHS, KEYED_PREFIXES, NESTED_ROOTS
from tests.agent.decide.builders import LOCAL, NOW, context

MISSING = object()  # "leave the key out"

EMPTY = EvalContext(
    now=NOW, local_time=LOCAL, user={}, ctx={}, device={}, traffic_source=None, session={}, profile={},
    cart={},
)  # fmt: skip
# Wrong types everywhere a builder could get them wrong: every path must read as missing, never raise.
ODD = EvalContext(
    now=NOW,
    local_time="15:30",  # type: ignore[arg-type]
    user={"attributes": ["tier"], "custom": None},
    ctx=None,  # type: ignore[arg-type]
    device=[],  # type: ignore[arg-type]
    traffic_source=None,
    session="x",  # type: ignore[arg-type]
    profile={},
    cart=42,  # type: ignore[arg-type]
    event={"customProps": "not-a-dict", "items": {"0": 1}},
    item=[],  # type: ignore[arg-type]
    segment_list="seg_a",  # a str is a Sequence but not a list of ids
)


def holds(condition: dict[str, Any] | None, ctx: EvalContext | None = None) -> bool:
    return compile_condition(condition)(ctx if ctx is not None else context())


# --- every path ------------------------------------------------------------------------------------------

PATHS: list[tuple[str, Any]] = [
    ("user.attributes.tier", "gold"),
    ("user.attributes.app.version", "2.1"),
    ("user.custom", "c-42"),
    ("user.isNew", False),
    ("user.segments", ["seg_a", "seg_b"]),
    ("ctx.type", "PRODUCT"),
    ("ctx.data", ["sku-1", "sku-2"]),
    ("ctx.location", "app://product"),
    ("ctx.lng", "en"),
    ("ctx.referrer", "https://www.google.com/"),
    ("ctx.pageNumber", 2),
    ("ctx.utm.utm_medium", "cpc"),
    ("ctx.attributes.app_platform", "android"),
    ("ctx.attributes.rating", 4),
    ("device.type", "mobile"),
    ("device.os", "Android"),
    ("device.browser", "Chrome Mobile"),
    ("device.tracking", "notSupported"),
    ("device.permission", "granted"),
    ("traffic.source", "Paid Search"),
    ("session.pageviews", 3),
    ("session.events", 5),
    ("session.ageSeconds", 120.5),
    ("profile.visits", 7),
    ("profile.daysSinceFirstSeen", 30),
    ("profile.daysSinceLastPurchase", 2),
    ("profile.purchaseValue", 199.9),
    ("cart.value", 59.5),
    ("cart.items", 2),
    ("time.hour", 15),
    ("time.weekday", 3),
    ("event.type", "purchase-v1"),
    ("event.customProps.rating", 5),
    ("event.items.0.productId", "sku-9"),
    ("item.price", 19.9),
    ("item.inStock", True),
]
PATH_IDS = [path for path, _ in PATHS]


def test_path_table_covers_the_whole_grammar() -> None:
    covered = set(PATH_IDS)
    assert covered >= FIXED_PATHS
    assert all(any(path.startswith(prefix) for path in covered) for prefix in KEYED_PREFIXES)
    assert all(any(path.startswith(root + ".") for path in covered) for root in NESTED_ROOTS)


@pytest.mark.parametrize(("path", "actual"), PATHS, ids=PATH_IDS)
def test_path_reads_its_value(path: str, actual: Any) -> None:
    assert holds({"attr": path, "op": "eq", "value": actual})
    assert not holds({"attr": path, "op": "ne", "value": actual})
    assert holds({"attr": path, "op": "exists"})
    assert not holds({"attr": path, "op": "not_exists"})


@pytest.mark.parametrize(("path", "actual"), PATHS, ids=PATH_IDS)
def test_path_type_mismatch_is_false_never_an_error(path: str, actual: Any) -> None:
    # A list against a scalar or a scalar against a list is always a type mismatch.
    other = actual[0] if isinstance(actual, list) else [actual]
    assert not holds({"attr": path, "op": "eq", "value": other})
    assert holds({"attr": path, "op": "ne", "value": other})


# time.* is never missing in a well-formed context (local_time is required), only in the odd one.
MISSING_CASES = [
    pytest.param(path, ctx, id=f"{name}-{path}")
    for name, ctx in (("empty", EMPTY), ("odd-types", ODD))
    for path in PATH_IDS
    if not (ctx is EMPTY and path.startswith("time."))
]


@pytest.mark.parametrize(("path", "ctx"), MISSING_CASES)
def test_missing_path_is_false_except_the_four(path: str, ctx: EvalContext) -> None:
    results = {op: holds({"attr": path, "op": op, "value": VALUES[op]}, ctx) for op in OPERATORS}
    assert {op for op, result in results.items() if result} == {"not_exists", "is_empty", "ne", "nin"}


def test_none_value_means_missing() -> None:
    ctx = context(ctx={"lng": None, "utm": {"utm_medium": None}}, user={"attributes": {"tier": None}})
    for path in ("ctx.lng", "ctx.utm.utm_medium", "user.attributes.tier", "ctx.type"):
        assert not holds({"attr": path, "op": "exists"}, ctx)
        assert holds({"attr": path, "op": "not_exists"}, ctx)


# A value suitable for each operator, used where only the missing/odd behaviour matters.
VALUES: dict[str, Any] = {
    "eq": "x", "ne": "x", "in": ["x"], "nin": ["x"], "contains": "x", "not_contains": "x",
    "starts_with": "x", "ends_with": "x", "matches": "x", "gt": 1, "gte": 1, "lt": 1, "lte": 1,
    "between": [1, 2], "exists": None, "not_exists": None, "is_empty": None,
}  # fmt: skip


# --- every operator --------------------------------------------------------------------------------------

# (op, value, actual, expected, kind); the actual sits at event.v, MISSING leaves the key out.
OPS: list[tuple[str, Any, Any, bool, str]] = [
    ("eq", "a", "a", True, "match"),
    ("eq", "a", "b", False, "no-match"),
    ("eq", "a", MISSING, False, "missing"),
    ("eq", "a", None, False, "missing"),
    ("eq", "a", 1, False, "mismatch"),
    ("eq", 5, "5", True, "match"),  # numeric string vs number value: numeric comparison
    ("eq", 5, "5.0", True, "match"),
    ("eq", 5, " 5 ", True, "match"),
    ("eq", 5, 5.0, True, "match"),
    ("eq", 0.5, ".5", True, "match"),
    ("eq", 5, "five", False, "mismatch"),
    ("eq", 1000, "1_000", False, "mismatch"),  # Python's float() would accept it; JSON numbers do not
    ("eq", 5, "nan", False, "mismatch"),
    ("eq", 1, True, False, "mismatch"),  # true is not the number 1
    ("eq", "2", 2, False, "mismatch"),  # only number values coerce numeric strings, not the reverse
    ("eq", True, True, True, "match"),
    ("eq", True, "true", True, "match"),
    ("eq", False, "false", True, "match"),
    ("eq", False, True, False, "no-match"),
    ("eq", True, "True", False, "mismatch"),
    ("eq", True, 1, False, "mismatch"),
    ("eq", "true", True, True, "match"),
    ("eq", "false", True, False, "no-match"),
    ("eq", ["a", "b"], ["a", "b"], True, "match"),  # lists compare whole
    ("eq", ["a", "b"], ["b", "a"], False, "no-match"),
    ("eq", ["a"], ["a", "b"], False, "no-match"),
    ("eq", [1, 2], ["1", "2"], True, "match"),
    ("eq", ["a"], "a", False, "mismatch"),
    ("eq", "a", ["a"], False, "mismatch"),
    ("eq", {"k": 1}, {"k": "1"}, True, "match"),
    ("eq", {"k": 1}, {"k": 1, "j": 2}, False, "no-match"),
    ("ne", "a", "b", True, "match"),
    ("ne", "a", "a", False, "no-match"),
    ("ne", "a", MISSING, True, "missing"),
    ("ne", "a", 1, True, "mismatch"),  # ne negates eq
    ("ne", 5, "5", False, "no-match"),
    ("in", ["a", "b"], "a", True, "match"),
    ("in", ["a", "b"], "c", False, "no-match"),
    ("in", ["a"], MISSING, False, "missing"),
    ("in", ["a"], ["x", "a"], True, "match"),  # any element of a list actual
    ("in", ["a"], ["x", "y"], False, "no-match"),
    ("in", ["a"], [], False, "no-match"),
    ("in", [1, 2], "2", True, "match"),
    ("in", [True], "true", True, "match"),
    ("in", ["true"], True, True, "match"),
    ("in", [], "a", False, "no-match"),
    ("in", ["1"], 1, False, "mismatch"),
    ("in", ["a"], {"a": 1}, False, "mismatch"),
    ("nin", ["a"], "b", True, "match"),
    ("nin", ["a"], "a", False, "no-match"),
    ("nin", ["a"], MISSING, True, "missing"),
    ("nin", ["a"], ["a", "b"], False, "no-match"),
    ("nin", ["a"], ["b"], True, "match"),
    ("nin", ["1"], 1, True, "mismatch"),  # nin negates in
    ("contains", "ell", "hello", True, "match"),  # substring on strings
    ("contains", "xyz", "hello", False, "no-match"),
    ("contains", "a", MISSING, False, "missing"),
    ("contains", "a", ["a", "b"], True, "match"),  # membership on lists
    ("contains", "a", ["ab"], False, "no-match"),
    ("contains", 2, ["1", "2"], True, "match"),
    ("contains", True, [True], True, "match"),
    ("contains", 2, "123", False, "mismatch"),
    ("contains", "1", 5, False, "mismatch"),
    ("not_contains", "x", "hello", True, "match"),
    ("not_contains", "ell", "hello", False, "no-match"),
    ("not_contains", "a", MISSING, False, "missing"),
    ("not_contains", "a", ["b"], True, "match"),
    ("not_contains", "a", ["a"], False, "no-match"),
    ("not_contains", "a", 5, False, "mismatch"),
    ("not_contains", 2, "123", False, "mismatch"),
    ("starts_with", "he", "hello", True, "match"),
    ("starts_with", "lo", "hello", False, "no-match"),
    ("starts_with", "he", MISSING, False, "missing"),
    ("starts_with", "1", 12, False, "mismatch"),
    ("starts_with", "a", ["ab"], False, "mismatch"),
    ("ends_with", "lo", "hello", True, "match"),
    ("ends_with", "he", "hello", False, "no-match"),
    ("ends_with", "lo", MISSING, False, "missing"),
    ("ends_with", "2", 12, False, "mismatch"),
    ("matches", r"^sku-\d+$", "sku-12", True, "match"),
    ("matches", "b", "abc", True, "match"),  # a search, not a full match
    ("matches", r"\d", "abc", False, "no-match"),
    ("matches", "a", MISSING, False, "missing"),
    ("matches", r"\d", 5, False, "mismatch"),
    ("matches", "a", ["a"], False, "mismatch"),
    ("gt", 5, 6, True, "match"),
    ("gt", 5, 5, False, "no-match"),
    ("gt", 5, "10", True, "match"),  # numerically; as strings "10" < "5"
    ("gt", 5, MISSING, False, "missing"),
    ("gt", 5, "abc", False, "mismatch"),
    ("gt", 5, True, False, "mismatch"),
    ("gt", 5, [6], False, "mismatch"),
    ("gt", "2024-01-01", "2024-06-01T00:00:00Z", True, "match"),  # strings order lexicographically
    ("gt", "b", 1, False, "mismatch"),
    ("gte", 5, 5, True, "match"),
    ("gte", 5, "5", True, "match"),
    ("gte", 5, 4.9, False, "no-match"),
    ("gte", 5, MISSING, False, "missing"),
    ("gte", 5, "x", False, "mismatch"),
    ("lt", 5, 4, True, "match"),
    ("lt", 10, "9", True, "match"),
    ("lt", 5, 5, False, "no-match"),
    ("lt", 5, MISSING, False, "missing"),
    ("lt", 5, {"a": 1}, False, "mismatch"),
    ("lte", 5, 5, True, "match"),
    ("lte", 5, 6, False, "no-match"),
    ("lte", 5, MISSING, False, "missing"),
    ("lte", "m", 3, False, "mismatch"),
    ("between", [1, 5], 1, True, "match"),  # inclusive at both ends
    ("between", [1, 5], 5, True, "match"),
    ("between", [1, 5], "3", True, "match"),
    ("between", [1, 5], 5.01, False, "no-match"),
    ("between", [1, 5], 0, False, "no-match"),
    ("between", ["a", "c"], "b", True, "match"),
    ("between", ["a", "c"], "d", False, "no-match"),
    ("between", [1, 5], MISSING, False, "missing"),
    ("between", [1, 5], "x", False, "mismatch"),
    ("between", [1, 5], True, False, "mismatch"),
    ("between", ["a", "c"], 2, False, "mismatch"),
    ("exists", None, "", True, "match"),
    ("exists", None, 0, True, "match"),
    ("exists", None, False, True, "match"),
    ("exists", None, [], True, "match"),
    ("exists", None, MISSING, False, "missing"),
    ("exists", None, None, False, "missing"),
    ("not_exists", None, "x", False, "no-match"),
    ("not_exists", None, MISSING, True, "missing"),
    ("not_exists", None, None, True, "missing"),
    ("is_empty", None, "", True, "match"),
    ("is_empty", None, [], True, "match"),
    ("is_empty", None, {}, True, "match"),
    ("is_empty", None, "a", False, "no-match"),
    ("is_empty", None, [""], False, "no-match"),
    ("is_empty", None, MISSING, True, "missing"),
    ("is_empty", None, 0, False, "mismatch"),
    ("is_empty", None, False, False, "mismatch"),
]


def test_operator_table_covers_every_operator_and_case() -> None:
    kinds = {op: {kind for o, *_, kind in OPS if o == op} for op in OPERATORS}
    for op, seen in kinds.items():
        expected = {"match", "no-match", "missing", "mismatch"}
        if op in ("exists", "not_exists"):
            # Only presence matters: any present value exists, whatever its type.
            expected = {"match" if op == "exists" else "no-match", "missing"}
        assert expected <= seen, f"{op}: missing cases {expected - seen}"


@pytest.mark.parametrize(
    ("op", "value", "actual", "expected", "kind"),
    OPS,
    ids=[f"{op}-{kind}-{value!r}-{'-' if a is MISSING else repr(a)}" for op, value, a, _, kind in OPS],
)
def test_operator(op: str, value: Any, actual: Any, expected: bool, kind: str) -> None:
    condition: dict[str, Any] = {"attr": "event.v", "op": op}
    if value is not None:
        condition["value"] = value
    event = {} if actual is MISSING else {"v": actual}
    assert holds(condition, context(event=event)) is expected


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("user.attributes.age", 40, False),
        ("user.attributes.age", "42", True),
        ("user.attributes.age", 42, True),
    ],
)
def test_string_attributes_compare_numerically(path: str, value: Any, expected: bool) -> None:
    assert holds({"attr": path, "op": "eq", "value": value}) is expected
    assert holds({"attr": path, "op": "gt", "value": 9})  # "42" > "9" would be false as strings


def test_booleans_compare_with_boolean_strings() -> None:
    assert holds({"attr": "user.isNew", "op": "eq", "value": "false"})
    assert holds({"attr": "user.isNew", "op": "eq", "value": False})
    assert not holds({"attr": "user.isNew", "op": "eq", "value": 0})
    flag = context(user={"attributes": {"vip": "true"}})
    assert holds({"attr": "user.attributes.vip", "op": "eq", "value": True}, flag)
    assert holds({"attr": "item.inStock", "op": "in", "value": [True]})


def test_user_segments_is_a_list() -> None:
    assert holds({"attr": "user.segments", "op": "contains", "value": "seg_a"})
    assert holds({"attr": "user.segments", "op": "in", "value": ["seg_x", "seg_b"]})
    assert not holds({"attr": "user.segments", "op": "contains", "value": "seg_"})
    assert holds({"attr": "user.segments", "op": "is_empty"}, context(segment_list=()))
    assert holds({"attr": "user.segments", "op": "eq", "value": ["seg_a"]}, context(segment_list=("seg_a",)))
    assert not holds({"attr": "user.segments", "op": "exists"}, context(segment_list=None))


def test_time_reads_the_local_clock_with_iso_weekdays() -> None:
    assert holds({"attr": "time.hour", "op": "eq", "value": 15})  # 13:30 UTC
    sunday_midnight = context(local_time=datetime(2026, 9, 20, 0, 5, tzinfo=UTC))
    assert holds({"attr": "time.weekday", "op": "eq", "value": 7}, sunday_midnight)
    assert holds({"attr": "time.hour", "op": "eq", "value": 0}, sunday_midnight)
    assert holds({"attr": "time.hour", "op": "between", "value": [9, 17]})
