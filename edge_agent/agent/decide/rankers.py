"""How each strategy type orders product ids (bundle.md §5), from aggregated scores.

Types and their scores (``params.windowDays`` defaults to 30; ``params.weights`` — ``{"views", "carts",
"purchases"}``, each 1 by default — turn a product's counts into one activity number):

- ``popular``: activity within the window, highest first; only items with activity > 0.
- ``trending``: ``recent`` = activity in the last ``params.recentDays`` (default 7) days, ``older`` = the
  rest of the window; ``baseline = older × recentDays / (windowDays − recentDays)`` is what the older part
  predicts for a period as long as the recent one, and ``score = recent / (baseline + 1)`` (the +1 keeps a
  single fresh view from outranking steady sellers). Only items with recent activity; ties: more recent
  activity first.
- ``recently_viewed``: the profile's viewed products within the window, most recent first.
- ``viewed_together``: products first viewed in the same session as an anchor, by the number of such
  sessions within the window (summed over anchors). Anchors: the items in ``ctx.data``.
- ``bought_together``: products in the same purchase cart as an anchor, by the number of such purchases within
  the window. Anchors: ``ctx.data`` and the products in the profile's cart; anchors are never yielded.
- ``similar``: every item sharing ``params.attribute`` (default ``category``) with an anchor (``ctx.data``;
  a list-valued attribute shares when the lists intersect), by ``popular`` activity, ties in catalog order.
- ``new_arrivals``: by ``createdAt``, newest first; items without a readable ``createdAt`` come last.
- ``manual``: ``params.items`` in order.

Ties are broken by catalog order everywhere. Day windows count UTC days including today. A ranker only orders
ids; catalog, stock, filter, ``ctx.data`` and fallback handling are ``strategies.StrategyBook``'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from edge_agent.storage.finite import clamp, times, total
from edge_agent.storage.scores import BUY_PAIRS, VIEW_PAIRS
from edge_agent.storage.values import number, product_id

RECENT_VIEWS_LIMIT = 500


class ScoreSource(Protocol):
    """Aggregated scores for one request (``recommend.StoredScores`` reads them from SQLite)."""

    def activity(self, days: float) -> Mapping[str, tuple[int, int, int]]:
        """``{productId: (views, carts, purchases)}`` within the last ``days`` days."""
        ...

    def partners(self, kind: str, anchors: Sequence[str], days: float) -> Mapping[str, int]:
        """Co-occurrence counts (``view``/``buy``) with any anchor within the last ``days`` days."""
        ...

    def recent_views(self, days: float, limit: int) -> Sequence[str]:
        """The requesting profile's viewed products within ``days``, most recent first."""
        ...

    def cart(self) -> Sequence[str]:
        """The requesting profile's cart now."""
        ...


@dataclass(slots=True, frozen=True)
class Params:
    """A strategy's ``params``, read leniently: an unusable value falls back to its default."""

    window_days: float = 30.0
    recent_days: float = 7.0
    limit: int | None = None
    attribute: str = "category"
    items: tuple[str, ...] = ()
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> Params:
        def positive(key: str, default: float) -> float:
            value = number(raw.get(key))
            return value if value is not None and value > 0 else default

        limit = raw.get("limit")
        weights_raw = raw.get("weights")
        weights: Mapping[str, Any] = weights_raw if isinstance(weights_raw, dict) else {}
        items_raw = raw.get("items")
        items: list[Any] = items_raw if isinstance(items_raw, list) else []
        views, carts, purchases = (number(weights.get(k)) for k in ("views", "carts", "purchases"))
        attribute = raw.get("attribute")
        return cls(
            window_days=positive("windowDays", 30.0),
            recent_days=positive("recentDays", 7.0),
            limit=limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None,
            attribute=attribute if isinstance(attribute, str) and attribute else "category",
            items=tuple(p for p in (product_id(i) for i in items) if p is not None),
            weights=(
                1.0 if views is None else views,
                1.0 if carts is None else carts,
                1.0 if purchases is None else purchases,
            ),
        )

    def score(self, counts: tuple[int, int, int]) -> float:
        return total(times(w, n) for w, n in zip(self.weights, counts, strict=True))


def _created(item: Mapping[str, Any]) -> float | None:
    raw = item.get("createdAt")
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _values(value: Any) -> set[Any]:
    """An attribute value as a set of hashable values (a list shares when it intersects)."""
    if isinstance(value, list):
        return {v for v in value if isinstance(v, str | int | float | bool)}
    return {value} if isinstance(value, str | int | float | bool) else set()


class CatalogIndex:
    """The catalog with what rankers need precomputed once per bundle: positions and ``createdAt`` order."""

    def __init__(self, catalog: dict[str, dict[str, Any]]) -> None:
        self.items = catalog
        self.order = {pid: i for i, pid in enumerate(catalog)}
        dated = sorted(
            (pid for pid, item in catalog.items() if _created(item) is not None),
            key=lambda pid: (-(_created(catalog[pid]) or 0.0), self.order[pid]),
        )
        self.newest = tuple(dated + [pid for pid, item in catalog.items() if _created(item) is None])

    def position(self, pid: str) -> float:
        return self.order.get(pid, math.inf)  # products outside the catalog sort last

    def by_score(self, scored: Mapping[str, float]) -> list[str]:
        """Positive scores only, highest first, ties in catalog order."""
        positive = [pid for pid, score in scored.items() if score > 0]
        return sorted(positive, key=lambda pid: (-scored[pid], self.position(pid)))


def _popular(catalog: CatalogIndex, p: Params, anchors: Sequence[str], scores: ScoreSource) -> list[str]:
    return catalog.by_score({pid: p.score(c) for pid, c in scores.activity(p.window_days).items()})


def _trending(catalog: CatalogIndex, p: Params, anchors: Sequence[str], scores: ScoreSource) -> list[str]:
    recent_days = min(p.recent_days, p.window_days)
    recent = {pid: p.score(c) for pid, c in scores.activity(recent_days).items()}
    window = {pid: p.score(c) for pid, c in scores.activity(p.window_days).items()}
    older_days = p.window_days - recent_days
    trend: dict[str, float] = {}
    for pid, now in recent.items():
        older = max(window.get(pid, 0.0) - now, 0.0)
        baseline = clamp(older * recent_days / older_days) if older_days > 0 else 0.0
        trend[pid] = clamp(now / (baseline + 1.0))
    # Among equal trends more recent activity goes first, then catalog order.
    rising = [pid for pid, score in trend.items() if score > 0]
    return sorted(rising, key=lambda pid: (-trend[pid], -recent[pid], catalog.position(pid)))


def _recently_viewed(
    catalog: CatalogIndex, p: Params, anchors: Sequence[str], scores: ScoreSource
) -> list[str]:
    return list(scores.recent_views(p.window_days, RECENT_VIEWS_LIMIT))


def _viewed_together(
    catalog: CatalogIndex, p: Params, anchors: Sequence[str], scores: ScoreSource
) -> list[str]:
    counts = scores.partners(VIEW_PAIRS, anchors, p.window_days)
    return catalog.by_score({pid: float(n) for pid, n in counts.items()})


def _bought_together(
    catalog: CatalogIndex, p: Params, anchors: Sequence[str], scores: ScoreSource
) -> list[str]:
    owned = list(dict.fromkeys([*anchors, *scores.cart()]))
    counts = scores.partners(BUY_PAIRS, owned, p.window_days)
    return [pid for pid in catalog.by_score({k: float(n) for k, n in counts.items()}) if pid not in owned]


def _similar(catalog: CatalogIndex, p: Params, anchors: Sequence[str], scores: ScoreSource) -> list[str]:
    wanted: set[Any] = set()
    for anchor in anchors:
        item = catalog.items.get(anchor)
        if item is not None:
            wanted |= _values(item.get(p.attribute))
    if not wanted:
        return []
    activity = scores.activity(p.window_days)
    sharing = [pid for pid, item in catalog.items.items() if _values(item.get(p.attribute)) & wanted]
    # sorted() is stable and the catalog is iterated in order: equal scores keep catalog order.
    return sorted(sharing, key=lambda pid: -p.score(activity.get(pid, (0, 0, 0))))


def _new_arrivals(catalog: CatalogIndex, p: Params, anchors: Sequence[str], scores: ScoreSource) -> list[str]:
    return list(catalog.newest)


def _manual(catalog: CatalogIndex, p: Params, anchors: Sequence[str], scores: ScoreSource) -> list[str]:
    return list(p.items)


Ranker = Callable[[CatalogIndex, Params, Sequence[str], ScoreSource], list[str]]
RANKERS: dict[str, Ranker] = {
    "popular": _popular,
    "trending": _trending,
    "recently_viewed": _recently_viewed,
    "viewed_together": _viewed_together,
    "bought_together": _bought_together,
    "similar": _similar,
    "new_arrivals": _new_arrivals,
    "manual": _manual,
}
