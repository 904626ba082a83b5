"""Which campaigns a visit or event triggers, and what ``/choose`` answers (bundle.md §4).

Eligibility of a campaign for a request: active and inside its schedule window, its audience holds, some
experience's audience holds, and its frequency caps (when a cap checker is given) are not reached.
Several eligible campaigns: highest priority first, ties in bundle order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from edge_agent.agent.decide.compiled import (
    CompiledBundle,
    CompiledCampaign,
    CompiledExperience,
    CompiledTrigger,
)
from edge_agent.agent.decide.context import EvalContext
from edge_agent.agent.wire import ChooseItemIn
from edge_agent.storage.caps import CapCheck
from edge_agent.storage.decisions import Decision
from edge_agent.storage.route_spec import Trigger


class ProductsProvider(Protocol):
    """Fills a content's ``products`` from a strategy (recommendations)."""

    def products_for_content(
        self,
        strategy_id: str,
        limit: int | None,
        ctx: EvalContext,
        item: ChooseItemIn,
        bundle: CompiledBundle,
        decision_id: str,
        content_id: str,
    ) -> dict[str, Any]: ...


def decision_id_for(sec: str, uid: str, now: float) -> str:
    """The live format: ``gf:<sec>:<uid>:<unix seconds>``."""
    return f"gf:{sec}:{uid}:{int(now)}"


def first_experience(campaign: CompiledCampaign, ctx: EvalContext) -> CompiledExperience | None:
    for experience in campaign.experiences:
        if experience.audience(ctx):
            return experience
    return None


def eligible(campaign: CompiledCampaign, ctx: EvalContext, caps: CapCheck | None) -> bool:
    if not campaign.in_window(ctx.now) or not campaign.audience(ctx):
        return False
    if first_experience(campaign, ctx) is None:
        return False
    return caps is None or caps(campaign)


def _matching_trigger(
    campaign: CompiledCampaign, ctx: EvalContext, kind: Trigger, events: list[dict[str, Any]] | None
) -> CompiledTrigger | None:
    """A visit (``events`` None) fires a trigger whose condition holds; an event fires one naming its type
    whose condition holds with that event."""
    for trigger in campaign.triggers:
        if trigger.type != kind:
            continue
        if events is None:
            if trigger.condition(ctx):
                return trigger
            continue
        for event in events:
            if event.get("type") in trigger.events and trigger.condition(ctx.with_event(event)):
                return trigger
    return None


def triggered(
    bundle: CompiledBundle,
    ctx: EvalContext,
    kind: Trigger,
    *,
    events: list[dict[str, Any]] | None = None,
    caps: CapCheck | None = None,
    limit: int = 1,
) -> list[dict[str, Any]]:
    """``campaigns[]`` for a /visit (PAGELOAD, no ``events``) or /event (EVENT) response."""
    hits: list[dict[str, Any]] = []
    for campaign in bundle.ranked:
        trigger = _matching_trigger(campaign, ctx, kind, events)
        if trigger is None or not eligible(campaign, ctx, caps):
            continue
        experience = first_experience(campaign, ctx)
        assert experience is not None
        hits.append(
            {
                "campaignId": campaign.campaign_id,
                "experienceId": experience.experience_id,
                "trigger": kind,
                "priority": campaign.priority,
                "delayTime": trigger.delay_time,
            }
        )
        if len(hits) >= limit:
            break
    return hits


@dataclass(slots=True)
class ChooseResult:
    entries: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    new_assignments: list[tuple[str, str]] = field(default_factory=list)  # (experience, variation)


@dataclass(slots=True)
class Chooser:
    """Answers one /choose request; remembers decisions made so a campaign is decided once per request."""

    bundle: CompiledBundle
    ctx: EvalContext
    sec: str
    base_url: str
    assignments: dict[str, str]
    caps: CapCheck | None = None
    products: ProductsProvider | None = None
    result: ChooseResult = field(default_factory=ChooseResult)
    _payloads: dict[str, dict[str, Any]] = field(default_factory=dict)

    def choose(self, items: Iterable[ChooseItemIn]) -> ChooseResult:
        for item in items:
            if item.selector is not None:
                campaign = next(
                    (c for c in self.bundle.by_selector.get(item.selector, ()) if self._eligible(c)), None
                )
                if campaign is not None:
                    payload = self._payload(campaign, item)
                    self.result.entries.append({"selector": item.selector, "payload": [payload]})
            elif item.campaign_id is not None:
                campaign = self.bundle.by_id.get(item.campaign_id)
                if campaign is not None and self._eligible(campaign):
                    self.result.entries.append({"payload": [self._payload(campaign, item)]})
            elif item.group is not None:
                for campaign in self.bundle.by_group.get(item.group, ()):
                    if self._eligible(campaign):
                        self.result.entries.append({"payload": [self._payload(campaign, item)]})
            # An item with no usable selector/campaignId/group gets no entry (agent-api §6).
        return self.result

    def _eligible(self, campaign: CompiledCampaign) -> bool:
        return campaign.campaign_id in self._payloads or eligible(campaign, self.ctx, self.caps)

    def _payload(self, campaign: CompiledCampaign, item: ChooseItemIn) -> dict[str, Any]:
        cached = self._payloads.get(campaign.campaign_id)
        if cached is not None:
            return cached
        experience = first_experience(campaign, self.ctx)
        assert experience is not None
        uid = self.ctx.user["uid"]
        assigned = self.assignments.get(experience.experience_id)
        variation = experience.allocate(uid, assigned)
        if assigned != variation.variation_id:
            self.assignments[experience.experience_id] = variation.variation_id
            self.result.new_assignments.append((experience.experience_id, variation.variation_id))
        decision_id = decision_id_for(self.sec, uid, self.ctx.now)
        contents = []
        for template in variation.contents:
            products = None
            if template.strategy_id is not None and self.products is not None:
                products = self.products.products_for_content(
                    template.strategy_id,
                    template.products_limit,
                    self.ctx,
                    item,
                    self.bundle,
                    decision_id,
                    template.content_id,
                )
            contents.append(template.render(self.base_url, decision_id, products))
        payload: dict[str, Any] = {
            "campaignId": campaign.campaign_id,
            "experienceId": experience.experience_id,
            "variationId": variation.variation_id,
            "decisionId": decision_id,
            "contents": contents,
        }
        if experience.test_id is not None:
            payload["testId"] = experience.test_id
        self._payloads[campaign.campaign_id] = payload
        self.result.decisions.append(
            Decision(
                decision_id=decision_id,
                campaign_id=campaign.campaign_id,
                experience_id=experience.experience_id,
                variation_id=variation.variation_id,
                uid=uid,
                ses=self.ctx.user.get("ses") or "",
                at=self.ctx.now,
                control=variation.control,
                content_ids=tuple(t.content_id for t in variation.contents),
            )
        )
        return payload
