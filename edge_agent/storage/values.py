"""Reading values the SDKs send in more than one shape: times and product ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


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


def event_time(event: dict[str, Any], default: float) -> float:
    """When an event happened: its ``eventTime`` (stamped at receipt when the app sent none)."""
    return parse_time(event.get("eventTime"), default)


def product_id(value: Any) -> str | None:
    """A product id as the SDKs may send it (Android can send numbers); anything else is no id."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value if isinstance(value, str) and value else None
