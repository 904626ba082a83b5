"""Products objects (sdk-wire-contract §3.3) for ``/strategy`` and for contents that reference a strategy.

A request collects what it needs first and reads scores once: :meth:`Recommender.batch` makes a
:class:`RecoBatch`; ``products_for_content`` / ``products_for_request`` return the request's Products dicts
right away (so ``Chooser`` can place them in its payload) and :meth:`RecoBatch.fill` completes every one of
them in place with one trip to a reader thread, where the score rows are read and the items ranked. Nothing
touches SQLite on the event loop.

Shape (bundle.md §5): size = ``/strategy`` ``pageSize``, else the content's ``products.limit``, else the
strategy's ``params.limit``, else 10; page = ``/strategy`` ``pageNumber``, else ``ctx.pageNumber``, else 1.
The chain's items (primary first, then each fallback's) form one list after the request rules;
``countPages = ceil(len(list) / size)`` and a page is a slice of it, so fallback items fill the end of the
primary's last page and the pages after it. A slot carries ``fallback``, the ``strId`` of the strategy that
produced it and ``slotId = <strategyId>:<position in the list>``; ``products.fallback`` is true when the
primary strategy contributed nothing. An unknown ``strategyId`` answers ``fallback: false`` (no fallback
ran), ``countPages: 0`` and no slots.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edge_agent.agent.decide.compiled import CompiledBundle
from edge_agent.agent.decide.content import slot_events
from edge_agent.agent.decide.context import EvalContext
from edge_agent.agent.decide.rtrules import Rule, arrange, compile_rules
from edge_agent.agent.decide.strategies import Candidate, StrategyBook, book_for
from edge_agent.agent.wire import ChooseItemIn, ContentSettingsIn, RtRuleIn, StrategyItemIn
from edge_agent.storage import profile_state, scores
from edge_agent.storage.database import Database

DEFAULT_SIZE = 10


class ActivityCache:
    """Activity summed over the past days of a window, shared by requests for ``ttl`` seconds.

    A window's past days change only when a late event (an ``eventTime`` before today, e.g. a replay)
    arrives, so their sum is reused; today's rows are always read fresh, which keeps what a shopper just
    did visible at once. A late event shows within ``ttl`` seconds. Used from reader threads: entries are
    replaced whole, so a race costs at most one extra read.
    """

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[int, int], tuple[float, dict[str, tuple[int, int, int]]]] = {}

    def past(
        self, conn: sqlite3.Connection, since_day: int, today: int, now: float
    ) -> dict[str, tuple[int, int, int]]:
        key = (since_day, today)
        hit = self._entries.get(key)
        if hit is not None and 0 <= now - hit[0] <= self.ttl:
            return hit[1]
        totals = scores.activity(conn, since_day, today - 1) if since_day < today else {}
        # Entries of earlier days will not be asked for again: keep only today's.
        fresh = {k: v for k, v in self._entries.items() if k[1] == today}
        fresh[key] = (now, totals)
        self._entries = fresh
        return totals


class StoredScores:
    """The :class:`~edge_agent.agent.decide.rankers.ScoreSource` of one request, read from SQLite.

    Runs on a reader thread. Each aggregate is read at most once per request (the strategies of one
    request and their fallbacks often share a window).
    """

    def __init__(self, conn: sqlite3.Connection, uid: str, now: float, cache: ActivityCache) -> None:
        self.conn = conn
        self.uid = uid
        self.now = now
        self.cache = cache
        self._today = scores.day_of(now)
        self._todays: dict[str, tuple[int, int, int]] | None = None
        self._activity: dict[int, dict[str, tuple[int, int, int]]] = {}
        self._partners: dict[tuple[str, tuple[str, ...], int], dict[str, int]] = {}

    def _since_day(self, days: float) -> int:
        # ``days`` UTC days including today.
        return self._today - max(1, math.ceil(days)) + 1

    def activity(self, days: float) -> Mapping[str, tuple[int, int, int]]:
        since = self._since_day(days)
        if since not in self._activity:
            if self._todays is None:
                self._todays = scores.activity(self.conn, self._today)
            totals = dict(self.cache.past(self.conn, since, self._today, self.now))
            for pid, (v, c, p) in self._todays.items():
                old = totals.get(pid, (0, 0, 0))
                totals[pid] = (old[0] + v, old[1] + c, old[2] + p)
            self._activity[since] = totals
        return self._activity[since]

    def partners(self, kind: str, anchors: Sequence[str], days: float) -> Mapping[str, int]:
        key = (kind, tuple(anchors), self._since_day(days))
        if key not in self._partners:
            self._partners[key] = scores.partners(self.conn, kind, anchors, key[2])
        return self._partners[key]

    def recent_views(self, days: float, limit: int) -> Sequence[str]:
        return scores.recent_views(self.conn, self.uid, self.now - days * scores.DAY_SECONDS, limit)

    def cart(self) -> Sequence[str]:
        # The cart as profile_state keeps it (one source of truth for cart conditions and anchors).
        return profile_state.cart_products(self.conn, self.uid)


def shape_item(item: dict[str, Any], option: ContentSettingsIn | None) -> dict[str, Any]:
    """The slot's ``item``: ``{"sku": id}`` with ``skusOnly``, else the stored item limited to ``fields``."""
    pid = item["productId"]
    if option is not None and option.skus_only:
        return {"sku": pid}
    if option is not None and option.fields is not None:
        return {"productId": pid, **{k: item[k] for k in option.fields if k in item}}
    return dict(item)


@dataclass(slots=True)
class _Job:
    strategy_id: str
    size: int | None  # pageSize or products.limit; None: the strategy's limit
    page: int | None  # /strategy pageNumber; None: ctx.pageNumber
    option: ContentSettingsIn | None
    rules: list[Rule]
    decision_id: str
    content_id: str
    out: dict[str, Any]


class RecoBatch:
    """The Products objects of one request; usable as ``campaigns.ProductsProvider``."""

    def __init__(
        self,
        recommender: Recommender,
        ctx: EvalContext,
        bundle: CompiledBundle,
        default_option: ContentSettingsIn | None,
    ) -> None:
        self._reco = recommender
        self._ctx = ctx
        # Built here, in the request's write on the writer thread, so never on two threads at once.
        self._book: StrategyBook = book_for(bundle)
        self._default_option = default_option
        self._jobs: list[_Job] = []

    def _add(
        self,
        strategy_id: str,
        size: int | None,
        page: int | None,
        option: ContentSettingsIn | None,
        rules: Sequence[RtRuleIn] | None,
        decision_id: str,
        content_id: str,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"strategyId": strategy_id, "fallback": False}
        self._jobs.append(
            _Job(strategy_id, size, page, option, compile_rules(rules), decision_id, content_id, out)
        )
        return out

    def products_for_content(
        self,
        strategy_id: str,
        limit: int | None,
        ctx: EvalContext,
        item: ChooseItemIn,
        bundle: CompiledBundle,
        decision_id: str,
        content_id: str,
    ) -> dict[str, Any]:
        """A content's ``products`` (complete once :meth:`fill` returned); slot URLs name ``content_id``."""
        option = item.option or self._default_option
        return self._add(strategy_id, limit, None, option, item.rules, decision_id, content_id)

    def products_for_request(self, item: StrategyItemIn, decision_id: str) -> dict[str, Any]:
        """One ``/strategy`` entry; there is no content, so slot URLs use the strategy id as ``contentId``."""
        return self._add(
            item.strategy_id,
            item.page_size,
            item.page_number,
            item.option,
            item.rules,
            decision_id,
            item.strategy_id,
        )

    async def fill(self) -> None:
        """Rank and page every Products object handed out, in place (one read for the whole request)."""
        if self._jobs:
            uid = str(self._ctx.user.get("uid") or "")
            now, cache = self._ctx.now, self._reco.activity_cache
            await self._reco.db.read(lambda conn: self._fill_all(StoredScores(conn, uid, now, cache)))

    def _fill_all(self, source: StoredScores) -> None:
        for job in self._jobs:
            self._fill(job, source)

    def _fill(self, job: _Job, source: StoredScores) -> None:
        ctx_page = self._ctx.ctx.get("pageNumber")
        page = job.page or (ctx_page if isinstance(ctx_page, int) and ctx_page >= 1 else 1)
        out = job.out
        out.clear()  # rebuilt in the documented key order
        out["strategyId"] = job.strategy_id
        primary = self._book.strategies.get(job.strategy_id)
        if primary is None:
            out.update({"fallback": False, "pageNumber": page, "countPages": 0, "slots": []})
            return
        size = job.size or primary.params.limit or DEFAULT_SIZE
        chosen = arrange(
            self._book.candidates(job.strategy_id, self._ctx, source), job.rules, lambda c: c.item
        )
        if primary.name is not None:
            out["name"] = primary.name
        out["fallback"] = all(c.fallback for c in chosen)  # the primary contributed nothing
        out["pageNumber"] = page
        out["countPages"] = math.ceil(len(chosen) / size)
        start = (page - 1) * size
        page_items = chosen[start : start + size]
        out["slots"] = [self._slot(c, start + i + 1, job) for i, c in enumerate(page_items)]

    def _slot(self, c: Candidate, position: int, job: _Job) -> dict[str, Any]:
        slot_id = f"{c.strategy.strategy_id}:{position}"
        return {
            "item": shape_item(c.item, job.option),
            "fallback": c.fallback,
            "strId": c.strategy.number,
            "slotId": slot_id,
            "events": slot_events(
                self._reco.base_url, job.decision_id, job.content_id, slot_id, c.strategy.number
            ),
        }


class Recommender:
    """Makes a :class:`RecoBatch` per request; holds what every request shares."""

    def __init__(self, base_url: str, db: Database) -> None:
        self.base_url = base_url
        self.db = db
        self.activity_cache = ActivityCache()

    def batch(
        self, ctx: EvalContext, bundle: CompiledBundle, default_option: ContentSettingsIn | None = None
    ) -> RecoBatch:
        """``default_option``: settings for /choose items without their own ``option`` (old Flutter's
        top-level ``contentSettings``)."""
        return RecoBatch(self, ctx, bundle, default_option)
