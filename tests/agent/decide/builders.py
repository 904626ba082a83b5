"""A fully populated evaluation context for condition tests."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

from edge_agent.agent.decide.context import EvalContext

NOW = 1_790_000_000.0
DAY = 86_400.0
# Wednesday 15:30 at UTC+2 (13:30 UTC): time.* must read the local clock.
LOCAL = datetime(2026, 9, 16, 15, 30, tzinfo=timezone(timedelta(hours=2)))


def context(**changes: Any) -> EvalContext:
    """A context where every path has a value (see PATHS)."""
    base = EvalContext(
        now=NOW,
        local_time=LOCAL,
        user={
            "uid": "u1",
            "custom": "c-42",
            "attributes": {"tier": "gold", "age": "42", "app.version": "2.1"},
            "isNew": False,
        },
        ctx={
            "type": "PRODUCT",
            "data": ["sku-1", "sku-2"],
            "location": "app://product",
            "lng": "en",
            "referrer": "https://www.google.com/",
            "pageNumber": 2,
            "utm": {"utm_medium": "cpc"},
            "attributes": {"app_platform": "android", "rating": 4},
        },
        device={
            "type": "mobile",
            "os": "Android",
            "browser": "Chrome Mobile",
            "tracking": "notSupported",
            "permission": "granted",
        },
        traffic_source="Paid Search",
        session={"pageviews": 3, "events": 5, "ageSeconds": 120.5},
        profile={"visits": 7, "daysSinceFirstSeen": 30, "daysSinceLastPurchase": 2, "purchaseValue": 199.9},
        cart={"value": 59.5, "items": 2},
        event={"type": "purchase-v1", "customProps": {"rating": 5}, "items": [{"productId": "sku-9"}]},
        item={"productId": "sku-1", "price": 19.9, "inStock": True},
        segment_list=["seg_a", "seg_b"],
    )
    return dataclasses.replace(base, **changes)
