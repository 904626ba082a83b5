"""What the decisioning reads about a profile: ``profile.*``/``cart.*`` facts and ``details.affinity``
(bundle.md §2; agent-api §3). The frequency-cap check is ``storage/caps``.

Everything here is a pure function of the :class:`~edge_agent.storage.profile_state.ProfileState` read in the
request's write transaction; nothing touches SQLite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from edge_agent.storage.condition_paths import CartFacts, ProfileFacts
from edge_agent.storage.finite import total
from edge_agent.storage.profile_state import ProfileState, decayed

_DAY_S = 86_400.0

#: Catalog attributes ``details.affinity`` is reported for.
AFFINITY_ATTRIBUTES = ("category", "brand")


def _plain(number: float) -> int | float:
    """Whole numbers as ints: ``cart.items`` is a count, and ``2`` reads better than ``2.0`` in UserInfo."""
    return int(number) if float(number).is_integer() else number


def profile_facts(state: ProfileState, now: float) -> ProfileFacts:
    """``daysSinceLastPurchase`` (whole days; missing when the profile never bought) and ``purchaseValue``."""
    facts: ProfileFacts = {"purchaseValue": _plain(state.purchase_value)}
    if state.last_purchase_at is not None:
        facts["daysSinceLastPurchase"] = math.floor(max(0.0, now - state.last_purchase_at) / _DAY_S)
    return facts


def cart_facts(state: ProfileState) -> CartFacts:
    """``value`` (sum of quantity × itemPrice) and ``items`` (sum of quantities); an empty cart is 0/0."""
    return {"value": _plain(round(state.cart_value, 6)), "items": _plain(state.cart_items)}


def affinity(state: ProfileState, catalog: Mapping[str, Mapping[str, Any]], now: float) -> dict[str, Any]:
    """``{attribute: {value: score}}`` for :data:`AFFINITY_ATTRIBUTES`: the decayed product scores summed
    per catalog value, highest first, rounded to 3 decimals. Products not in the catalog, and catalog
    items without the attribute, contribute nothing; an attribute nobody scored is left out."""
    sums: dict[str, dict[str, float]] = {}
    for product_id, (score, since) in state.affinity.items():
        item = catalog.get(product_id)
        if item is None:
            continue
        current = decayed(score, since, now)
        for attribute in AFFINITY_ATTRIBUTES:
            value = item.get(attribute)
            if isinstance(value, str) and value:
                per_value = sums.setdefault(attribute, {})
                per_value[value] = total((per_value.get(value, 0.0), current))
    return {
        attribute: {k: round(v, 3) for k, v in sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))}
        for attribute, values in sums.items()
    }
