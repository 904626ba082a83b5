"""What each event type and a product view do to a profile's state and to the recommendation scores: the one
table ``profile_state`` and ``scores`` read (bundle.md §2, §5).

Event types match exactly (sdk-wire-contract §2.9: arbitrary UTF-8 type strings); a type not in
:data:`EVENT_TYPES` is kept in the history and replayed, and changes nothing else. A product view is a
visit whose ``ctx.type`` is ``PRODUCT`` in any case — the SDKs send the enum upper-case (§2.3), and a
hand-written ``"product"`` means the same page — on the product ``ctx.data[0]``.

The events read here are the validated request models (``agent/wire.py``), seen through the read-only
protocols below, so storage needs no agent import and nothing is coerced twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal, Protocol

from edge_agent.storage.values import product_id


class CartItem(Protocol):
    @property
    def product_id(self) -> str | None: ...
    @property
    def quantity(self) -> float | None: ...
    @property
    def item_price(self) -> float | None: ...


class TrackedEvent(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def value(self) -> float | None: ...
    @property
    def quantity(self) -> float | None: ...
    @property
    def product_id(self) -> str | None: ...
    @property
    def cart(self) -> Sequence[CartItem] | None: ...


class CartChange(Enum):
    ADD = "add"  # ``cart`` is the cart after it; else add ``quantity`` (default 1) of ``productId``
    REMOVE = "remove"  # ``cart`` is the cart after it; else remove ``quantity`` (none: the whole line)
    REPLACE = "replace"  # ``cart`` is the cart (none: unchanged)
    PURCHASE = "purchase"  # the cart is bought: purchase value and time, then an empty cart


@dataclass(frozen=True, slots=True)
class EventType:
    cart: CartChange
    affinity: float = 0.0  # added to each product the event is about (halving per half-life)
    score: Literal["carts", "purchases"] | None = None  # the item_scores count it bumps per product
    bought_together: bool = False  # its products pair in ``pair_scores`` (kind ``buy``)


EVENT_TYPES: dict[str, EventType] = {
    "add-to-cart-v1": EventType(CartChange.ADD, affinity=3.0, score="carts"),
    "remove-from-cart-v1": EventType(CartChange.REMOVE),
    "sync-cart-v1": EventType(CartChange.REPLACE),
    "purchase-v1": EventType(CartChange.PURCHASE, affinity=5.0, score="purchases", bought_together=True),
}

#: A visit's type in the history (conditions count visits by it, beside the event types).
VISIT_HISTORY_TYPE = "visit"
#: Affinity a product view adds to its product.
VIEW_AFFINITY = 1.0
PRODUCT_PAGE = "PRODUCT"


def viewed_product(ctx_type: str | None, data: Sequence[str] | None) -> str | None:
    """The product a visit shows, or None when it is not a product view."""
    if ctx_type is None or ctx_type.upper() != PRODUCT_PAGE or not data:
        return None
    return product_id(data[0])


def event_products(event: TrackedEvent) -> list[str]:
    """The products an event is about, once each: a purchase's cart lines (else its ``productId``); any other
    event's ``productId``."""
    rule = EVENT_TYPES.get(event.type)
    if rule is not None and rule.cart is CartChange.PURCHASE and event.cart:
        lines = [product_id(line.product_id) for line in event.cart]
        return [pid for pid in dict.fromkeys(lines) if pid is not None]
    single = product_id(event.product_id)
    return [] if single is None else [single]
