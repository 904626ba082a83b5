"""Numbers that stay finite by construction: the bound every amount is held to, and the one way to add and
multiply them.

A wire number (``value``, ``quantity``, ``itemPrice``) beyond :data:`MAX_AMOUNT` is refused at validation;
every sum or product that decisioning keeps (cart value and items, purchase value, prices derived from a
line's total, affinity and score sums) goes through :func:`clamp`, :func:`total` or :func:`times`, so it
is never inf or NaN — neither in memory nor in SQLite, where inf would read back as a poisoned profile and
NaN is stored as NULL.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

#: The largest magnitude of any amount the agent accepts or keeps (a trillion: far above any basket).
MAX_AMOUNT = 1e12


def clamp(value: float, default: float = 0.0) -> float:
    """``value`` held to ±:data:`MAX_AMOUNT`; NaN becomes ``default``."""
    if math.isnan(value):
        return default
    return max(-MAX_AMOUNT, min(MAX_AMOUNT, value))


def total(values: Iterable[float]) -> float:
    """The sum of ``values``, clamped at every step so no partial sum can overflow."""
    acc = 0.0
    for value in values:
        acc = clamp(acc + clamp(value))
    return acc


def times(a: float, b: float) -> float:
    """``a × b`` clamped (1e12 × 1e12 is finite, but its sums would not be for long)."""
    return clamp(clamp(a) * clamp(b))
