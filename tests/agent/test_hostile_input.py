"""Hostile bodies (bad input gets a 4xx envelope, never a 500): deep nesting and numbers that
would overflow. Each answers a 4xx envelope naming the field, and the profile keeps working afterwards."""

from __future__ import annotations

import json
import math
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from tests.helpers import db_rows, envelope

SDK_ROUTES = ("/visit", "/event", "/choose", "/user", "/strategy")


def nested(depth: int) -> str:
    """A marker that :func:`post` replaces by ``depth`` containers inside each other (``[[…{"a": 1}…]]``);
    written as text, since no JSON encoder nests that deep."""
    return f"<deep {depth}>"


def _encode(body: dict[str, Any]) -> bytes:
    text = json.dumps(body)
    for match in set(re.findall(r'"<deep (\d+)>"', text)):
        depth = int(match)
        text = text.replace(f'"<deep {depth}>"', "[" * (depth - 1) + '{"a": 1}' + "]" * (depth - 1))
    return text.encode()


async def post(client: TestClient, path: str, body: dict[str, Any]) -> ClientResponse:
    return await client.post(path, data=_encode(body), headers={"Content-Type": "application/json"})


def body_for(path: str, uid: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, list[dict[str, Any]]] = {
        "/event": [{"type": "add-to-cart-v1", "productId": "sku-1001", "value": 10, "quantity": 1}],
        "/choose": [{"selector": "home-banner"}],
        "/strategy": [{"strategyId": "str_popular"}],
    }
    body = envelope({"uid": uid})
    if path in data:
        body["data"] = data[path]
    body.update(extra)
    return body


async def assert_profile_works(client: TestClient, db_path: Path, uid: str) -> None:
    """Every SDK route answers 200 for the profile, and a new event still moves its stored cart."""
    for path in SDK_ROUTES:
        response = await post(client, path, body_for(path, uid))
        assert response.status == 200, (path, await response.text())
    added = {"type": "add-to-cart-v1", "productId": "sku-1002", "value": 7, "quantity": 1}
    response = await post(client, "/event", body_for("/event", uid, data=[added]))
    assert response.status == 200
    rows = db_rows(db_path, "SELECT cart FROM profile_state WHERE uid = ?", (uid,))
    cart = {line["productId"]: line for line in json.loads(rows[0]["cart"])}
    assert cart["sku-1002"]["itemPrice"] == 7
    assert all(math.isfinite(line["quantity"] * line["itemPrice"]) for line in cart.values())


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "agent.db"


def assert_envelope(body: dict[str, Any], status: int, needle: str) -> None:
    assert body["ok"] is False
    assert body["status"] == status
    joined = " | ".join(body["errors"])
    assert needle in joined, joined


# --- depth --------------------------------------------------------------------------------------------------

DEEP = (40, 254, 985, 1100)


@pytest.mark.parametrize("depth", DEEP)
@pytest.mark.parametrize("path", SDK_ROUTES)
async def test_deep_unknown_key_is_422_naming_the_field(
    client: TestClient, db_path: Path, path: str, depth: int
) -> None:
    response = await post(client, path, body_for(path, "deep-1", extra=nested(depth)))
    assert response.status == 422, await response.text()
    # orjson itself refuses documents nested past its own limit; either way the message names the body.
    assert_envelope(await response.json(), 422, "extra" if depth < 1024 else "body")
    await assert_profile_works(client, db_path, "deep-1")


@pytest.mark.parametrize("depth", (254, 985))
@pytest.mark.parametrize("path", SDK_ROUTES)
async def test_deep_attributes_are_422_naming_the_field(
    client: TestClient, db_path: Path, path: str, depth: int
) -> None:
    body = body_for(path, "deep-2")
    body["user"]["attributes"] = {"a": nested(depth)}
    response = await post(client, path, body)
    assert response.status == 422, await response.text()
    assert_envelope(await response.json(), 422, "user.attributes.a")
    assert "nested deeper than 32 levels" in (await response.json())["errors"][0]
    await assert_profile_works(client, db_path, "deep-2")


async def test_deep_ctx_attributes_and_custom_props_are_422(client: TestClient, db_path: Path) -> None:
    body = body_for("/visit", "deep-3")
    body["ctx"]["attributes"] = {"k": nested(300)}
    response = await post(client, "/visit", body)
    assert_envelope(await response.json(), 422, "ctx.attributes.k")
    event = {"type": "x", "customProps": {"p": nested(300)}}
    response = await post(client, "/event", body_for("/event", "deep-3", data=[event]))
    assert_envelope(await response.json(), 422, "data.0.customProps.p")
    await assert_profile_works(client, db_path, "deep-3")


async def test_nesting_at_the_limit_is_accepted(client: TestClient) -> None:
    # The root object is level 1, ``data`` 2, the event 3, ``customProps`` 4: 28 more containers reach 32.
    event = {"type": "x", "customProps": {"p": nested(28)}}
    response = await post(client, "/event", body_for("/event", "deep-4", data=[event]))
    assert response.status == 200, await response.text()
    event = {"type": "x", "customProps": {"p": nested(29)}}
    response = await post(client, "/event", body_for("/event", "deep-4", data=[event]))
    assert response.status == 422


async def test_the_depth_limit_is_a_setting(make_client: Any) -> None:
    client = await make_client(server={"max_json_depth": 8})
    response = await post(client, "/visit", body_for("/visit", "deep-5", extra=nested(8)))
    assert_envelope(await response.json(), 422, "nested deeper than 8 levels")
    response = await post(client, "/visit", body_for("/visit", "deep-5", extra=nested(6)))
    assert response.status == 200
    # The operator routes read their bodies with the same setting.
    for path in ("/admin/queue/purge", "/admin/queue/retry"):
        response = await post(client, path, {"state": "dead", "all": True, "extra": nested(8)})
        assert_envelope(await response.json(), 422, "extra.0.0.0.0.0.0.0: nested deeper than 8 levels")
    response = await post(client, "/admin/queue/purge", {"state": "dead", "extra": nested(6)})
    assert response.status == 200


# --- numbers ------------------------------------------------------------------------------------------------

HUGE_CARTS = [
    ("data.0.quantity", [{"type": "add-to-cart-v1", "productId": "sku-1001", "quantity": 1e308}] * 2),
    ("data.0.value", [{"type": "purchase-v1", "value": 1e308}, {"type": "purchase-v1", "value": 1e308}]),
    (
        "data.0.cart.0.itemPrice",
        [{"type": "sync-cart-v1", "cart": [{"productId": "sku-1001", "quantity": 2, "itemPrice": 1e300}]}],
    ),
    (
        "data.0.cart.1.quantity",
        [{"type": "add-to-cart-v1", "cart": [{"productId": "a"}, {"productId": "b", "quantity": -1e200}]}],
    ),
]


@pytest.mark.parametrize(("field", "data"), HUGE_CARTS)
async def test_amounts_beyond_the_bound_are_422_naming_the_field(
    client: TestClient, db_path: Path, field: str, data: list[dict[str, Any]]
) -> None:
    response = await post(client, "/event", body_for("/event", "huge-1", data=data))
    assert response.status == 422, await response.text()
    assert_envelope(await response.json(), 422, f"{field}: Input should be")
    await assert_profile_works(client, db_path, "huge-1")


async def test_amounts_at_the_bound_keep_every_sum_finite(client: TestClient, db_path: Path) -> None:
    # Each value is accepted; their products and sums would overflow without the clamp.
    big = {"type": "add-to-cart-v1", "productId": "sku-1001", "quantity": 1e12, "value": 1e12}
    tiny = {"type": "add-to-cart-v1", "productId": "sku-1003", "quantity": 1e-300, "value": 1e12}
    response = await post(client, "/event", body_for("/event", "huge-2", data=[big, big, tiny]))
    assert response.status == 200, await response.text()
    bought = {"type": "purchase-v1", "value": 1e12}
    response = await post(client, "/event", body_for("/event", "huge-2", data=[bought] * 3))
    assert response.status == 200
    row = db_rows(db_path, "SELECT * FROM profile_state WHERE uid = ?", ("huge-2",))[0]
    assert row["purchase_value"] == 1e12
    await assert_profile_works(client, db_path, "huge-2")


# --- poisoned profiles --------------------------------------------------------------------------------------

POISON = [
    {"cart": '[{"productId": "sku-1001", "quantity": null, "itemPrice": null}]'},  # the overflow of old
    {"cart": "not json", "affinity": "{{"},
    {"cart": '{"productId": 1}', "affinity": '{"sku-1001": [null, "x"], "sku-1002": 5}'},
    {"cart": '[{"productId": "sku-1001", "quantity": 1e308, "itemPrice": 1e308}, 7, null]'},
    {"purchase_value": float("inf"), "last_purchase_at": float("-inf")},
    {"purchase_value": "lots", "purchases": "many", "last_purchase_at": "yesterday"},
    {"affinity": '{"sku-1001": [1e308, 1e308]}', "purchases": -3},
]


def poison(db_path: Path, uid: str, columns: dict[str, Any]) -> None:
    conn = sqlite3.connect(db_path)
    try:
        sets = ", ".join(f"{name} = ?" for name in columns)
        with conn:
            changed = conn.execute(
                f"UPDATE profile_state SET {sets} WHERE uid = ?", (*columns.values(), uid)
            ).rowcount
        assert changed == 1
    finally:
        conn.close()


@pytest.mark.parametrize("columns", POISON)
async def test_a_poisoned_profile_heals_on_read(
    client: TestClient, db_path: Path, columns: dict[str, Any]
) -> None:
    first = {"type": "add-to-cart-v1", "productId": "sku-1001", "value": 10, "quantity": 1}
    response = await post(client, "/event", body_for("/event", "sick-1", data=[first]))
    assert response.status == 200
    poison(db_path, "sick-1", columns)
    # A read-only route first: it answers, and the repaired state is written back.
    response = await post(client, "/choose", body_for("/choose", "sick-1"))
    assert response.status == 200, await response.text()
    row = db_rows(db_path, "SELECT * FROM profile_state WHERE uid = ?", ("sick-1",))[0]
    for name in ("purchase_value", "last_purchase_at"):
        assert row[name] is None or (isinstance(row[name], float) and math.isfinite(row[name]))
    assert isinstance(row["purchases"], int) and row["purchases"] >= 0
    assert isinstance(json.loads(row["cart"]), list)
    assert isinstance(json.loads(row["affinity"]), dict)
    await assert_profile_works(client, db_path, "sick-1")


async def test_poisoned_score_rows_do_not_break_rankings(client: TestClient, db_path: Path) -> None:
    view = envelope({"uid": "sick-2"}, ctx={"type": "PRODUCT", "data": ["sku-1001"]})
    assert (await post(client, "/visit", view)).status == 200
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            conn.execute("UPDATE item_scores SET views = 'lots', carts = ?, purchases = 'x'", (math.inf,))
            (day,) = conn.execute("SELECT day FROM item_scores").fetchone()
            huge = [(d, "sku-1002", 2**63 - 1) for d in (day, day - 1)]  # their SUM overflows int64
            conn.executemany("INSERT INTO item_scores (day, product_id, views) VALUES (?, ?, ?)", huge)
    finally:
        conn.close()
    for strategy in ("str_popular", "str_similar", "str_bought_together", "str_recent"):
        body = body_for("/strategy", "sick-2", data=[{"strategyId": strategy}])
        response = await post(client, "/strategy", body)
        assert response.status == 200, (strategy, await response.text())
    await assert_profile_works(client, db_path, "sick-2")
