"""What decisioning knows about a profile beyond its identity: the cart, purchases and product affinity.

The state is kept incrementally in the ``profile_state`` table: :func:`advance` runs on the writer thread
from ``tracking.track``, in the same transaction that records the visit or events, so conditions never see
a cart that disagrees with the history. Nothing here is recomputed from the history on a request.

What each event type does to the cart (bundle.md §2) is :data:`~edge_agent.storage.event_types.EVENT_TYPES`:
an add or remove with a ``cart`` list takes it as the cart after the change; without one it adds/removes
``quantity`` (default 1; a remove without quantity drops the line) of ``productId`` priced at
``value / quantity`` — ``value`` is read as the line's total, as the SDKs' own examples send it. A sync
replaces the cart with its ``cart`` (no ``cart``: unchanged); a purchase empties it. Unknown prices count 0.

Every amount kept here is finite (``storage/finite``), and a row that is not — written by an older
version, or damaged — is repaired as it is read and rewritten by the next write (:func:`_from_row`).

Affinity: a per-product score that halves every :data:`AFFINITY_HALF_LIFE_DAYS`; a product view adds
``VIEW_AFFINITY``, each event its type's ``affinity`` for each of its products (``event_types``). Scores are
kept per product, not per category or brand, so a catalog update re-maps them; the agent sums them per
catalog attribute when it answers ``details.affinity``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import orjson

from edge_agent.storage.event_types import (
    EVENT_TYPES,
    VIEW_AFFINITY,
    CartChange,
    CartItem,
    TrackedEvent,
    event_products,
)
from edge_agent.storage.finite import MAX_AMOUNT, clamp, times, total
from edge_agent.storage.profiles import Identity
from edge_agent.storage.values import number

AFFINITY_HALF_LIFE_DAYS = 30.0
# Most products kept per profile; the lowest scores go first. Bounds the row and the read.
MAX_AFFINITY_PRODUCTS = 200

_HALF_LIFE_S = AFFINITY_HALF_LIFE_DAYS * 86_400.0


@dataclass(slots=True)
class CartLine:
    product_id: str
    quantity: float
    item_price: float


@dataclass(slots=True)
class ProfileState:
    """The profile's decisioning state as of the end of the current write."""

    cart: list[CartLine] = field(default_factory=list)
    purchase_value: float = 0.0
    purchases: int = 0
    last_purchase_at: float | None = None
    affinity: dict[str, tuple[float, float]] = field(default_factory=dict)  # productId → (score, as of)

    @property
    def cart_value(self) -> float:
        return total(times(line.quantity, line.item_price) for line in self.cart)

    @property
    def cart_items(self) -> float:
        return total(line.quantity for line in self.cart)


def decayed(score: float, since: float, now: float) -> float:
    """``score`` as of ``since`` decayed to ``now`` (never grows when ``now`` is earlier)."""
    return float(score * 0.5 ** (max(0.0, now - since) / _HALF_LIFE_S))


def advance(
    conn: sqlite3.Connection,
    identity: Identity,
    now: float,
    *,
    viewed: str | None = None,
    events: Sequence[tuple[TrackedEvent, float]] = (),
) -> ProfileState:
    """Apply one request's product view (``viewed``) or events (each with the time it happened) to the
    profile's state, store it if it changed, and return it."""
    row = conn.execute("SELECT * FROM profile_state WHERE uid = ?", (identity.uid,)).fetchone()
    state, changed = _from_row(row) if row is not None else (ProfileState(), False)
    if viewed is not None:
        _boost(state, viewed, VIEW_AFFINITY, now)
        changed = True
    for event, at in events:
        changed = _apply_event(state, event, at) or changed
    if changed:
        _store(conn, identity.uid, state, now)
    return state


# --- applying -----------------------------------------------------------------------------------------------


def _apply_event(state: ProfileState, event: TrackedEvent, at: float) -> bool:
    rule = EVENT_TYPES.get(event.type)
    if rule is None:
        return False
    for product in event_products(event) if rule.affinity else ():
        _boost(state, product, rule.affinity, at)
    after = _lines(event.cart)
    if rule.cart is CartChange.PURCHASE:
        lines = after or []
        spent = event.value
        if spent is None:
            spent = total(times(x.quantity, x.item_price) for x in lines)
        state.purchase_value = total((state.purchase_value, spent))
        state.purchases += 1
        state.last_purchase_at = at if state.last_purchase_at is None else max(state.last_purchase_at, at)
        state.cart = []
        return True
    if after is not None:
        state.cart = after
        return True
    product_id = event.product_id
    if rule.cart is CartChange.REPLACE or product_id is None:
        return rule.affinity > 0 and product_id is not None
    quantity = event.quantity if event.quantity is not None and event.quantity > 0 else None
    if rule.cart is CartChange.ADD:
        _add(state.cart, product_id, quantity or 1.0, event.value)
    else:
        _remove(state.cart, product_id, quantity)
    return True


def _add(cart: list[CartLine], product_id: str, quantity: float, value: float | None) -> None:
    price = clamp(value / quantity) if value is not None else None
    for line in cart:
        if line.product_id == product_id:
            line.quantity = total((line.quantity, quantity))
            if price is not None:
                line.item_price = price
            return
    cart.append(CartLine(product_id, quantity, price or 0.0))


def _remove(cart: list[CartLine], product_id: str, quantity: float | None) -> None:
    for line in cart:
        if line.product_id == product_id:
            line.quantity = 0 if quantity is None else line.quantity - quantity
    cart[:] = [line for line in cart if line.quantity > 0]


def _boost(state: ProfileState, product_id: str, weight: float, at: float) -> None:
    score, since = state.affinity.get(product_id, (0.0, at))
    ref = max(since, at)
    state.affinity[product_id] = (total((decayed(score, since, ref), decayed(weight, at, ref))), ref)
    if len(state.affinity) > MAX_AFFINITY_PRODUCTS:
        weakest = min(state.affinity, key=lambda pid: decayed(*state.affinity[pid], at))
        del state.affinity[weakest]


def _lines(items: Sequence[CartItem] | None) -> list[CartLine] | None:
    """A ``cart`` as lines (repeated products merged, lines without a product or a positive quantity
    dropped); None when the event has no cart."""
    if items is None:
        return None
    lines: dict[str, CartLine] = {}
    for item in items:
        quantity = 1.0 if item.quantity is None else item.quantity
        if item.product_id is None or quantity <= 0:
            continue
        price = item.item_price or 0.0
        if item.product_id in lines:
            lines[item.product_id].quantity = total((lines[item.product_id].quantity, quantity))
            lines[item.product_id].item_price = price
        else:
            lines[item.product_id] = CartLine(item.product_id, quantity, price)
    return list(lines.values())


# --- the row ------------------------------------------------------------------------------------------------


def cart_products(conn: sqlite3.Connection, uid: str) -> list[str]:
    """The products in the profile's cart now, in cart order (``bought_together`` anchors on them)."""
    row = conn.execute("SELECT cart FROM profile_state WHERE uid = ?", (uid,)).fetchone()
    return [] if row is None else [line.product_id for line in _stored_cart(row["cart"])[0]]


def _json(text: Any) -> Any:
    """A stored JSON column, or None when it is missing or damaged."""
    try:
        return orjson.loads(text) if isinstance(text, str | bytes) else None
    except orjson.JSONDecodeError:
        return None


# The stored state is read on every request of the profile (affinity: up to MAX_AFFINITY_PRODUCTS pairs), so
# a value as _columns wrote it — a finite float in range — is taken as is, and only anything else goes
# through values.number. Each reader also says whether everything was taken as is ("clean"): then the row
# needs no repair and _from_row skips re-serializing it to compare.


def _as_written(value: Any, low: float = -MAX_AMOUNT) -> TypeGuard[float]:
    return type(value) is float and low <= value <= MAX_AMOUNT


def _stored_cart(text: Any) -> tuple[list[CartLine], bool]:
    """The stored cart; lines without a product or a usable quantity are dropped, amounts clamped."""
    raw = _json(text)
    lines = []
    clean = isinstance(raw, list)
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict) or not isinstance(pid := item.get("productId"), str):
            clean = False
            continue
        quantity, price = item.get("quantity"), item.get("itemPrice")
        if _as_written(quantity, 0.0) and quantity > 0 and _as_written(price):
            lines.append(CartLine(pid, quantity, price))
            continue
        clean = False
        quantity, price = number(quantity), number(price)
        if quantity is not None and quantity > 0:
            lines.append(CartLine(pid, quantity, price or 0.0))
    return lines, clean


def _stored_affinity(text: Any) -> tuple[dict[str, tuple[float, float]], bool]:
    """The stored scores; a pair that is not two numbers is dropped, a score held to 0..MAX_AMOUNT."""
    raw = _json(text)
    kept: dict[str, tuple[float, float]] = {}
    clean = isinstance(raw, dict)
    for pid, pair in (raw if isinstance(raw, dict) else {}).items():
        if type(pair) is not list or len(pair) != 2:
            clean = False
            continue
        score, at = pair
        if _as_written(score, 0.0) and _as_written(at):
            kept[pid] = (score, at)
            continue
        clean = False
        if (score := number(score)) is not None and (at := number(at)) is not None:
            kept[pid] = (max(0.0, score), at)
    return kept, clean


_COLUMNS = ("cart", "purchase_value", "purchases", "last_purchase_at", "affinity")


def _from_row(row: sqlite3.Row) -> tuple[ProfileState, bool]:
    """The stored state, and whether it had to be repaired: a damaged value (null, inf, text, broken JSON)
    is read as its default or clamped, so the profile keeps working; ``advance`` stores the repair."""
    purchase_value = number(row["purchase_value"])
    purchases = row["purchases"]
    cart, cart_clean = _stored_cart(row["cart"])
    affinity, affinity_clean = _stored_affinity(row["affinity"])
    state = ProfileState(
        cart=cart,
        purchase_value=purchase_value if purchase_value is not None else 0.0,
        purchases=purchases if isinstance(purchases, int) and purchases >= 0 else 0,
        last_purchase_at=number(row["last_purchase_at"]),
        affinity=affinity,
    )
    scalars = (state.purchase_value, state.purchases, state.last_purchase_at)
    if (
        cart_clean
        and affinity_clean
        and scalars == (row["purchase_value"], row["purchases"], row["last_purchase_at"])
    ):
        return state, False
    return state, _columns(state) != tuple(row[name] for name in _COLUMNS)


def _columns(state: ProfileState) -> tuple[Any, ...]:
    """The state as its stored columns (:data:`_COLUMNS`)."""
    cart = [
        {"productId": x.product_id, "quantity": x.quantity, "itemPrice": x.item_price} for x in state.cart
    ]
    return (
        orjson.dumps(cart).decode(),
        state.purchase_value,
        state.purchases,
        state.last_purchase_at,
        orjson.dumps({pid: list(v) for pid, v in state.affinity.items()}).decode(),
    )


def _store(conn: sqlite3.Connection, uid: str, state: ProfileState, now: float) -> None:
    conn.execute(
        "INSERT INTO profile_state (uid, cart, purchase_value, purchases, last_purchase_at, affinity, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(uid) DO UPDATE SET cart = excluded.cart, "
        "purchase_value = excluded.purchase_value, purchases = excluded.purchases, "
        "last_purchase_at = excluded.last_purchase_at, affinity = excluded.affinity, "
        "updated_at = excluded.updated_at",
        (uid, *_columns(state), now),
    )
