"""Reading values the SDKs, bundles and stored rows hold in more than one shape: times, ids and numbers.

The one home of each coercion rule; the wire models, profile state, scores, rankers, request rules and
condition operators call these rather than keep their own:

- :func:`is_number`: an int or float, never a bool (a JSON ``true`` is not the number 1);
- :func:`number`: a stored or wire number as a finite float held to ±``MAX_AMOUNT`` (``storage/finite``);
- :func:`numeric`: a number or a numeric string (``"12.5"``), finite — what conditions and request rules
  compare;
- :func:`scalar_text`: a scalar identifier as text (Android sends numbers and booleans, §2.8);
- :func:`product_id`: a product id as text, or none.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any, TypeGuard

from edge_agent.storage.finite import clamp

_NUMERIC = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*")


def rfc3339(ts: float) -> str:
    """Unix seconds as an RFC 3339 UTC time with milliseconds (``2026-11-27T08:00:00.000Z``)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: Any, default: float) -> float:
    """An RFC 3339 / ISO 8601 string as unix seconds (no zone = UTC); ``default`` for anything else."""
    if not isinstance(value, str):
        return default
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return default
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def is_number(value: Any) -> TypeGuard[int | float]:
    """True for int and float, but not bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def number(value: Any) -> float | None:
    """A stored or wire value as a finite, clamped float; None when it is not a number at all (booleans,
    strings, null, NaN)."""
    if not is_number(value):
        return None
    try:
        as_float = float(value)
    except OverflowError:  # an int beyond any float
        as_float = math.copysign(math.inf, value)
    return None if math.isnan(as_float) else clamp(as_float)


def numeric(value: Any) -> int | float | None:
    """``value`` as a number when it is one or a finite numeric string, else None."""
    if is_number(value):
        return value
    if isinstance(value, str) and _NUMERIC.fullmatch(value):
        as_float = float(value)
        return as_float if math.isfinite(as_float) else None
    return None


def scalar_text(value: Any) -> Any:
    """A scalar identifier as text: ``true``/``false``, whole floats without ``.0``; anything else as is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    return value


def product_id(value: Any) -> str | None:
    """A product id as the SDKs may send it (Android can send numbers); anything else is no id."""
    if isinstance(value, bool) or value is None:
        return None
    text = scalar_text(value)
    return text if isinstance(text, str) and text else None
