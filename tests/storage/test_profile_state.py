"""The profile's cart, purchases and affinity, maintained by ``profile_state.advance`` on a real database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.agent.wire import CtxIn, EventIn, parse_request
from edge_agent.storage import caps, profile_state
from edge_agent.storage.database import connect
from edge_agent.storage.event_types import viewed_product
from edge_agent.storage.migrations import migrate
from edge_agent.storage.profile_state import AFFINITY_HALF_LIFE_DAYS, ProfileState, advance
from edge_agent.storage.profiles import Identity, IdentityRequest, SessionPolicy, resolve_identity
from edge_agent.storage.values import parse_time

NOW = 1_790_000_000.0
DAY = 86_400.0


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = connect(tmp_path / "state.db")
    migrate(conn)
    yield conn
    conn.close()


@pytest.fixture
def who(conn: sqlite3.Connection) -> Identity:
    return resolve_identity(conn, IdentityRequest(uid="u1"), NOW, SessionPolicy())


def events(conn: sqlite3.Connection, who: Identity, *items: dict[str, Any], at: float = NOW) -> ProfileState:
    """As ``track`` calls it: the validated request models, each with the time it happened."""
    timed = []
    for item in items:
        when = parse_time(item.get("eventTime"), 1_789_999_999.0)
        timed.append((parse_request(EventIn, item), when))
    return advance(conn, who, at, events=timed)


def view(conn: sqlite3.Connection, who: Identity, ctx: dict[str, Any], at: float = NOW) -> ProfileState:
    """A visit, as ``track`` calls it: the product-view rule applied to the validated ``ctx``."""
    page = parse_request(CtxIn, ctx)
    return advance(conn, who, at, viewed=viewed_product(page.type, page.data))


def add(product: str, quantity: Any = 1, value: Any = None, **extra: Any) -> dict[str, Any]:
    return {"type": "add-to-cart-v1", "productId": product, "quantity": quantity, "value": value, **extra}


def lines(state: ProfileState) -> dict[str, tuple[float, float]]:
    return {x.product_id: (x.quantity, x.item_price) for x in state.cart}


def test_add_and_remove_without_cart_use_product_quantity_and_value(
    conn: sqlite3.Connection, who: Identity
) -> None:
    state = events(conn, who, add("sku-1", 2, 20.0), add("sku-2", None, 5.0), add("sku-1", 1, 10.0))
    assert lines(state) == {"sku-1": (3, 10.0), "sku-2": (1, 5.0)}
    assert (state.cart_value, state.cart_items) == (35.0, 4)
    state = events(conn, who, {"type": "remove-from-cart-v1", "productId": "sku-1", "quantity": 2})
    assert lines(state) == {"sku-1": (1, 10.0), "sku-2": (1, 5.0)}
    state = events(conn, who, {"type": "remove-from-cart-v1", "productId": "sku-2"})  # no quantity: the line
    assert lines(state) == {"sku-1": (1, 10.0)}


def test_a_cart_list_on_add_or_remove_is_the_cart_after_the_change(
    conn: sqlite3.Connection, who: Identity
) -> None:
    events(conn, who, add("sku-9", 1, 99.0))
    state = events(
        conn,
        who,
        add("sku-1", 1, 10.0, cart=[{"productId": "sku-1", "quantity": 2, "itemPrice": 10.0},
                                   {"productId": 7, "quantity": 1, "itemPrice": 3.5}]),
    )  # fmt: skip
    assert lines(state) == {"sku-1": (2, 10.0), "7": (1, 3.5)}
    state = events(conn, who, {"type": "remove-from-cart-v1", "productId": "sku-1", "cart": []})
    assert state.cart == []


def test_sync_replaces_and_purchase_empties_the_cart_and_sums_values(
    conn: sqlite3.Connection, who: Identity
) -> None:
    events(conn, who, add("sku-1", 1, 10.0))
    state = events(
        conn, who, {"type": "sync-cart-v1", "cart": [{"productId": "a", "quantity": 3, "itemPrice": 2}]}
    )
    assert lines(state) == {"a": (3, 2)}
    state = events(conn, who, {"type": "sync-cart-v1", "value": 0})  # no cart: nothing to replace it with
    assert lines(state) == {"a": (3, 2)}
    purchase = {
        "type": "purchase-v1",
        "value": 6.0,
        "cart": [{"productId": "a", "quantity": 3, "itemPrice": 2}],
    }
    state = events(conn, who, purchase, at=NOW + 10)
    assert state.cart == []
    assert (state.purchase_value, state.purchases) == (6.0, 1)
    state = events(
        conn, who, {"type": "purchase-v1", "cart": [{"productId": "b", "quantity": 2, "itemPrice": 4.5}]}
    )
    assert state.purchase_value == 15.0  # no value: the cart's total


def test_last_purchase_is_the_event_time_and_state_survives_a_new_connection(
    conn: sqlite3.Connection, who: Identity, tmp_path: Path
) -> None:
    events(conn, who, {"type": "purchase-v1", "value": 1, "cart": [], "eventTime": "2026-09-01T00:00:00Z"})
    other = connect(tmp_path / "state.db")
    try:
        state = advance(other, who, NOW)
    finally:
        other.close()
    assert state.last_purchase_at == 1_788_220_800.0  # 2026-09-01T00:00:00Z, not the receive time
    assert state.purchase_value == 1


def test_affinity_weights_views_carts_and_purchases_and_halves_per_half_life(
    conn: sqlite3.Connection, who: Identity
) -> None:
    state = view(conn, who, {"type": "PRODUCT", "data": ["sku-1"]})
    assert state.affinity["sku-1"] == (1.0, NOW)
    view(conn, who, {"type": "CART", "data": ["sku-2"]})  # not a product view
    state = events(conn, who, add("sku-2", 1, 1.0))
    purchase = {
        "type": "purchase-v1",
        "value": 1,
        "cart": [{"productId": "sku-3", "quantity": 1, "itemPrice": 1}],
    }
    state = events(conn, who, purchase)
    assert {k: v[0] for k, v in state.affinity.items()} == {"sku-1": 1.0, "sku-2": 3.0, "sku-3": 5.0}
    later = NOW + AFFINITY_HALF_LIFE_DAYS * DAY
    state = view(conn, who, {"type": "PRODUCT", "data": ["sku-1"]}, later)
    assert state.affinity["sku-1"] == (pytest.approx(1.5), later)
    assert profile_state.decayed(*state.affinity["sku-3"], later) == pytest.approx(2.5)


def test_affinity_keeps_a_bounded_number_of_products(conn: sqlite3.Connection, who: Identity) -> None:
    events(conn, who, add("keep", 1, 1.0))  # weight 3: outlives the views
    limit = profile_state.MAX_AFFINITY_PRODUCTS
    for i in range(limit + 1):
        state = view(conn, who, {"type": "PRODUCT", "data": [f"v{i}"]}, NOW + i)
    assert len(state.affinity) == limit
    assert "keep" in state.affinity
    assert "v0" not in state.affinity and "v1" not in state.affinity  # the oldest views went first


@pytest.mark.parametrize("page", ["PRODUCT", "product", "Product"])
def test_a_product_view_is_one_rule_whatever_the_case(
    conn: sqlite3.Connection, who: Identity, page: str
) -> None:
    state = view(conn, who, {"type": page, "data": [1003]})  # Android may send numbers
    assert state.affinity == {"1003": (1.0, NOW)}
    scores_row = conn.execute("SELECT views FROM item_scores WHERE product_id = '1003'").fetchone()
    assert scores_row is None  # advance keeps the state; the scores are tracking's other step


def test_lines_without_a_product_or_a_positive_quantity_are_dropped(
    conn: sqlite3.Connection, who: Identity
) -> None:
    state = events(
        conn,
        who,
        {"type": "add-to-cart-v1"},  # no product: nothing to add
        {"type": "sync-cart-v1", "cart": [{"quantity": 1}, {"productId": "", "quantity": 1},
                                          {"productId": "a", "quantity": -1}]},
    )  # fmt: skip
    assert state.cart == []
    state = events(conn, who, add("sku-1", quantity=None, value=None))
    assert lines(state) == {"sku-1": (1, 0.0)}


def test_cap_counts_count_choose_decisions_per_session_and_day(
    conn: sqlite3.Connection, who: Identity
) -> None:
    conn.execute(
        "INSERT INTO decisions (decision_id, campaign_id, experience_id, variation_id, uid, ses, at) "
        "VALUES ('d1', 'cmp_a', 'e', 'v', 'u1', ?, ?)",
        (who.ses, NOW),
    )
    counts = caps.counts(conn, who.uid, who.ses, NOW - 60, {"cmp_a"})["cmp_a"]
    assert (counts.decisions, counts.session_decisions, counts.day_decisions) == (1, 1, 1)
    assert (counts.impressions, counts.session_impressions, counts.day_impressions) == (0, 0, 0)
    assert caps.counts(conn, who.uid, "other-session", NOW + 60, {"cmp_a"})["cmp_a"].session_decisions == 0
    assert caps.counts(conn, who.uid, who.ses, NOW - 60, {"cmp_b"}) == {}  # only the capped ones count
