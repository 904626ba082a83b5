"""Products objects (sdk-wire-contract §3.3) for /strategy and for contents that reference a strategy.

This module shapes the answer; which items fill the slots is the strategy engine's job.
"""

from __future__ import annotations

from typing import Any

from edge_agent.agent.decide.compiled import CompiledBundle
from edge_agent.agent.decide.context import EvalContext
from edge_agent.agent.wire import ChooseItemIn, StrategyItemIn


class Recommender:
    """Answers Products objects. Until strategy scoring lands, every strategy yields no items."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def _products(self, bundle: CompiledBundle, strategy_id: str, page: int) -> dict[str, Any]:
        strategy = bundle.strategies.get(strategy_id)
        out: dict[str, Any] = {
            "strategyId": strategy_id,
            "fallback": True,
            "pageNumber": page,
            "countPages": 0,
            "slots": [],
        }
        if strategy is not None and strategy.name is not None:
            out["name"] = strategy.name
        return out

    def products_for_request(
        self, item: StrategyItemIn, ctx: EvalContext, bundle: CompiledBundle, decision_id: str
    ) -> dict[str, Any]:
        page = item.page_number or ctx.ctx.get("pageNumber") or 1
        return self._products(bundle, item.strategy_id, page)

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
        return self._products(bundle, strategy_id, ctx.ctx.get("pageNumber") or 1)
