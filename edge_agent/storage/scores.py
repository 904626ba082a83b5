"""Recommendation scores, kept up to date as events arrive and read back in aggregate (bundle.md §5).

Writes happen inside the request's own write (``tracking.track`` calls :func:`record`), so a 200 on
``/visit`` or ``/event`` means the scores include it. Requests read only aggregated rows of the window
they need; nothing scans the event history to rank items.

What counts (the product-view rule and the event types are ``storage/event_types``):

- a **view** is a product view (a visit on a ``PRODUCT`` page); the product is ``ctx.data[0]``;
- a **cart** is an ``add-to-cart-v1`` event's ``productId`` (one per event, whatever the quantity);
- a **purchase** is one per distinct ``productId`` of a ``purchase-v1`` event's ``cart`` (or its
  ``productId`` when it has no cart), and its products pair as bought together.

Tables (migration ``m004_scores``): ``item_scores`` counts views/carts/purchases per product per UTC day;
``pair_scores`` counts co-occurrences per UTC day — kind ``view`` for two products first viewed in the same
session (each pair once per session), kind ``buy`` for two products in the same purchase cart — with both
directions stored; ``profile_views`` keeps each profile's last view per product (``recently_viewed``);
``session_views`` remembers what a session viewed so a new view can be paired with the earlier ones.
Event-time days come from the event's ``eventTime`` (a replayed event lands in the day it happened).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from edge_agent.storage.event_types import EVENT_TYPES, TrackedEvent, event_products
from edge_agent.storage.values import number

DAY_SECONDS = 86_400
VIEW_PAIRS = "view"
BUY_PAIRS = "buy"
# A session or cart pairs a product with at most this many others: bounds the write cost of one event
# (pairs grow quadratically) while keeping every realistic basket whole.
MAX_PAIR_PARTNERS = 50


def day_of(at: float) -> int:
    """The UTC day number of a unix time: the bucket an event is counted in."""
    return int(at // DAY_SECONDS)


# -- writes ------------------------------------------------------------------------------------------


def record(
    conn: sqlite3.Connection,
    *,
    uid: str,
    ses: str,
    viewed: str | None,
    events: Sequence[tuple[TrackedEvent, float]],
    now: float,
) -> None:
    """Count what one request's product view (``viewed``) or events (each with the time it happened) mean
    for recommendations.

    Runs inside the caller's transaction (the tracking write), so scores commit with the history row.
    """
    if viewed is not None:
        _record_view(conn, uid, ses, viewed, now)
    for event, at in events:
        rule = EVENT_TYPES.get(event.type)
        if rule is None or rule.score is None:
            continue
        day = day_of(at)
        products = event_products(event)[: MAX_PAIR_PARTNERS + 1]
        for pid in products:
            _bump(conn, pid, day, **{rule.score: 1})
        if rule.bought_together:
            _pair_all(conn, BUY_PAIRS, products, day)


def _bump(
    conn: sqlite3.Connection, pid: str, day: int, views: int = 0, carts: int = 0, purchases: int = 0
) -> None:
    conn.execute(
        "INSERT INTO item_scores (day, product_id, views, carts, purchases) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (day, product_id) DO UPDATE SET views = views + excluded.views, "
        "carts = carts + excluded.carts, purchases = purchases + excluded.purchases",
        (day, pid, views, carts, purchases),
    )


def _pair(conn: sqlite3.Connection, kind: str, day: int, pairs: Iterable[tuple[str, str]]) -> None:
    rows = [(kind, a, day, b) for x, y in pairs for a, b in ((x, y), (y, x))]
    conn.executemany(
        "INSERT INTO pair_scores (kind, a, day, b, n) VALUES (?, ?, ?, ?, 1) "
        "ON CONFLICT (kind, a, day, b) DO UPDATE SET n = n + 1",
        rows,
    )


def _pair_all(conn: sqlite3.Connection, kind: str, products: list[str], day: int) -> None:
    if len(products) > 1:
        _pair(conn, kind, day, ((a, b) for i, a in enumerate(products) for b in products[i + 1 :]))


def _record_view(conn: sqlite3.Connection, uid: str, ses: str, pid: str, at: float) -> None:
    _bump(conn, pid, day_of(at), views=1)
    conn.execute(
        "INSERT INTO profile_views (uid, product_id, at) VALUES (?, ?, ?) "
        "ON CONFLICT (uid, product_id) DO UPDATE SET at = max(at, excluded.at)",
        (uid, pid, at),
    )
    first = conn.execute(
        "INSERT OR IGNORE INTO session_views (ses, product_id, at) VALUES (?, ?, ?)", (ses, pid, at)
    ).rowcount
    if first:  # a pair counts once per session: only a product's first view in it pairs
        earlier = [
            row[0]
            for row in conn.execute(
                "SELECT product_id FROM session_views WHERE ses = ? AND product_id != ? "
                "ORDER BY at DESC LIMIT ?",
                (ses, pid, MAX_PAIR_PARTNERS),
            )
        ]
        _pair(conn, VIEW_PAIRS, day_of(at), ((pid, other) for other in earlier))


def prune(conn: sqlite3.Connection, before: float) -> None:
    """Forget score rows for days before ``before`` and session/profile views older than it.

    Meant for the retention job (``retention.history_days``); reads never look past their window anyway.
    """
    day = day_of(before)
    conn.execute("DELETE FROM item_scores WHERE day < ?", (day,))
    conn.execute("DELETE FROM pair_scores WHERE day < ?", (day,))
    conn.execute("DELETE FROM session_views WHERE at < ?", (before,))
    conn.execute("DELETE FROM profile_views WHERE at < ?", (before,))


# -- reads -------------------------------------------------------------------------------------------


def _count(stored: object) -> int:
    """A summed count as read back: TOTAL (unlike SUM) cannot overflow, and a damaged row (text, inf) is
    held finite rather than breaking every ranking that reads it."""
    return int(number(stored) or 0.0)


def activity(
    conn: sqlite3.Connection, since_day: int, until_day: int | None = None
) -> dict[str, tuple[int, int, int]]:
    """``{productId: (views, carts, purchases)}`` summed over the days ``>= since_day`` (and
    ``<= until_day`` when given; without it, days after today — device clocks running ahead — count)."""
    return {
        row[0]: (_count(row[1]), _count(row[2]), _count(row[3]))
        for row in conn.execute(
            "SELECT product_id, TOTAL(views), TOTAL(carts), TOTAL(purchases) FROM item_scores "
            "WHERE day >= ? AND day <= ? GROUP BY product_id",
            (since_day, until_day if until_day is not None else 2**62),
        )
    }


def partners(conn: sqlite3.Connection, kind: str, anchors: Sequence[str], since_day: int) -> dict[str, int]:
    """``{productId: count}`` of co-occurrences with any of ``anchors`` since ``since_day`` (summed)."""
    if not anchors:
        return {}
    marks = ",".join("?" * len(anchors))
    return {
        row[0]: _count(row[1])
        for row in conn.execute(
            f"SELECT b, TOTAL(n) FROM pair_scores WHERE kind = ? AND a IN ({marks}) AND day >= ? GROUP BY b",
            (kind, *anchors, since_day),
        )
    }


def recent_views(conn: sqlite3.Connection, uid: str, since: float, limit: int) -> list[str]:
    """The profile's viewed products since ``since``, most recent first, at most ``limit``."""
    return [
        row[0]
        for row in conn.execute(
            "SELECT product_id FROM profile_views WHERE uid = ? AND at >= ? ORDER BY at DESC LIMIT ?",
            (uid, since, limit),
        )
    ]
