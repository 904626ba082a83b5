"""Recommendation strategies (bundle.md §5): which catalog items each strategy yields, in which order.

Every strategy ranks product ids; :meth:`StrategyBook.candidates` then follows the fallback chain and keeps
an item only when it is in the catalog, not in ``ctx.data``, not already yielded by an earlier strategy of the
chain, in stock (``inStock`` not false — unless the strategy's ``filter`` mentions ``item.inStock``, then the
filter alone decides) and accepted by the strategy's ``filter``.

How each type orders its items is ``rankers.py``'s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edge_agent.agent.decide.compiled import CompiledBundle
from edge_agent.agent.decide.conditions import Predicate, compile_condition
from edge_agent.agent.decide.context import EvalContext
from edge_agent.agent.decide.rankers import RANKERS, CatalogIndex, Params, ScoreSource
from edge_agent.storage.bundles import Strategy
from edge_agent.storage.values import product_id

MAX_FALLBACK_DEPTH = 5  # fallbacks followed after the primary strategy
_BOOK_KEY = "strategy_book"


@dataclass(slots=True, frozen=True)
class CompiledStrategy:
    strategy_id: str
    number: int  # strId: 1-based position in the bundle's list
    type: str
    name: str | None
    params: Params
    filter: Predicate
    filter_decides_stock: bool
    fallback: str | None


@dataclass(slots=True, frozen=True)
class Candidate:
    """One item a strategy chain yields; ``fallback`` when a fallback strategy produced it."""

    product_id: str
    item: dict[str, Any]
    strategy: CompiledStrategy
    fallback: bool


def _mentions(node: Any, path: str) -> bool:
    if isinstance(node, dict):
        return node.get("attr") == path or any(_mentions(v, path) for v in node.values())
    if isinstance(node, list):
        return any(_mentions(v, path) for v in node)
    return False


class StrategyBook:
    """A bundle's strategies and catalog, prepared once per bundle version (see :func:`book_for`)."""

    def __init__(self, bundle: CompiledBundle) -> None:
        self.catalog = CatalogIndex(bundle.catalog)
        self.strategies = {
            s.strategy_id: self._compile(s, bundle.strategy_numbers[s.strategy_id])
            for s in bundle.strategies.values()
        }

    @staticmethod
    def _compile(s: Strategy, number: int) -> CompiledStrategy:
        return CompiledStrategy(
            strategy_id=s.strategy_id,
            number=number,
            type=s.type,
            name=s.name,
            params=Params.read(s.params),
            filter=compile_condition(s.filter),
            filter_decides_stock=_mentions(s.filter, "item.inStock"),
            fallback=s.fallback,
        )

    def chain(self, strategy_id: str) -> list[CompiledStrategy]:
        """The strategy and its fallbacks in order; a repeat ends the chain, as does the depth limit."""
        out: list[CompiledStrategy] = []
        used: set[str] = set()
        current = self.strategies.get(strategy_id)
        while current is not None and current.strategy_id not in used and len(out) <= MAX_FALLBACK_DEPTH:
            out.append(current)
            used.add(current.strategy_id)
            current = self.strategies.get(current.fallback) if current.fallback else None
        return out

    def candidates(self, strategy_id: str, ctx: EvalContext, scores: ScoreSource) -> list[Candidate]:
        """Everything the chain of ``strategy_id`` yields for this request, in order."""
        data = ctx.ctx.get("data")
        anchors = (
            [p for p in (product_id(v) for v in data) if p is not None] if isinstance(data, list) else []
        )
        seen = set(anchors)
        scratch = dataclasses.replace(ctx)  # one copy whose ``item`` is swapped per item
        out: list[Candidate] = []
        for depth, strategy in enumerate(self.chain(strategy_id)):
            for pid in self.rank(strategy, anchors, scores):
                item = self.catalog.items.get(pid)
                if item is None or pid in seen:
                    continue
                if not strategy.filter_decides_stock and item.get("inStock") is False:
                    continue
                scratch.item = item
                if not strategy.filter(scratch):
                    continue
                seen.add(pid)
                out.append(Candidate(pid, item, strategy, depth > 0))
        return out

    def rank(self, strategy: CompiledStrategy, anchors: Sequence[str], scores: ScoreSource) -> list[str]:
        """Product ids in the strategy's order, before catalog, stock, filter and ``ctx.data`` checks."""
        ranker = RANKERS.get(strategy.type)
        return ranker(self.catalog, strategy.params, anchors, scores) if ranker else []


def book_for(bundle: CompiledBundle) -> StrategyBook:
    """The bundle's :class:`StrategyBook`, built on first use and kept with the compiled bundle.

    A new bundle version is a new ``CompiledBundle``, so filters compile once per version.
    """
    book = bundle.extra.get(_BOOK_KEY)
    if not isinstance(book, StrategyBook):
        book = StrategyBook(bundle)
        bundle.extra[_BOOK_KEY] = book
    return book
