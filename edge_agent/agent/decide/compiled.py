"""A bundle compiled once per version: predicates, indexes and content templates.

Decisions read only this structure and the request's ``EvalContext``; nothing is interpreted from JSON
on a request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edge_agent.agent.decide.conditions import Predicate, compile_condition
from edge_agent.agent.decide.content import ContentTemplate
from edge_agent.agent.decide.segments import segment_graph
from edge_agent.storage.bundles import Bundle, Campaign, Frequency, Strategy
from edge_agent.storage.route_spec import Trigger


def _ts(value: str | None) -> float | None:
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass(slots=True, frozen=True)
class CompiledVariation:
    variation_id: str
    weight: float
    control: bool
    contents: tuple[ContentTemplate, ...]


@dataclass(slots=True, frozen=True)
class CompiledExperience:
    experience_id: str
    test_id: str | None
    audience: Predicate
    variations: tuple[CompiledVariation, ...]
    by_id: dict[str, CompiledVariation]

    def allocate(self, uid: str, assigned: str | None) -> CompiledVariation:
        """Sticky, deterministic weighted allocation: a stored assignment wins while it still exists;
        otherwise ``hash(uid, experienceId)`` picks a point on the cumulative weights."""
        if assigned is not None and assigned in self.by_id:
            return self.by_id[assigned]
        total = sum(v.weight for v in self.variations)
        point = allocation_point(uid, self.experience_id) * total
        running = 0.0
        for variation in self.variations:
            running += variation.weight
            if point < running and variation.weight > 0:
                return variation
        return next(v for v in reversed(self.variations) if v.weight > 0)


def allocation_point(uid: str, experience_id: str) -> float:
    """A uniform, stable number in [0, 1) for (uid, experience)."""
    digest = hashlib.sha256(f"{uid}\x00{experience_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(slots=True, frozen=True)
class CompiledTrigger:
    type: str
    events: frozenset[str]
    condition: Predicate
    delay_time: int


@dataclass(slots=True, frozen=True)
class FrequencyCaps:
    """A campaign's caps (None = no cap) and what they count: impressed decisions or all decisions."""

    per_user: int | None
    per_session: int | None
    per_day: int | None
    on_impression: bool

    @staticmethod
    def of(frequency: Frequency) -> FrequencyCaps | None:
        """None when the campaign has no cap at all, so the common case costs nothing per request."""
        if frequency.per_user is None and frequency.per_session is None and frequency.per_day is None:
            return None
        return FrequencyCaps(
            frequency.per_user, frequency.per_session, frequency.per_day, frequency.count_on == "impression"
        )


@dataclass(slots=True, frozen=True)
class CompiledCampaign:
    campaign_id: str
    order: int
    priority: int
    active: bool
    start: float | None
    end: float | None
    selector: str | None
    group: str | None
    audience: Predicate
    triggers: tuple[CompiledTrigger, ...]
    experiences: tuple[CompiledExperience, ...]
    source: Campaign
    caps: FrequencyCaps | None = None

    def in_window(self, now: float) -> bool:
        if not self.active:
            return False
        if self.start is not None and now < self.start:
            return False
        return not (self.end is not None and now >= self.end)


@dataclass(slots=True)
class CompiledBundle:
    version: str
    bundle: Bundle
    campaigns: tuple[CompiledCampaign, ...]
    ranked: tuple[CompiledCampaign, ...]  # priority order, for /visit and /event
    by_id: dict[str, CompiledCampaign]
    by_selector: dict[str, tuple[CompiledCampaign, ...]]
    by_group: dict[str, tuple[CompiledCampaign, ...]]
    segments: dict[str, Predicate]
    strategies: dict[str, Strategy]
    strategy_numbers: dict[str, int]  # strId: 1-based position in the bundle's list
    catalog: dict[str, dict[str, Any]]
    # What ``count`` conditions need from a profile's history: only these types, only this far back.
    sections: frozenset[str] | None = None  # the secs whose campaigns this bundle serves; None = all
    history_days: float = 0.0
    history_types: frozenset[str] = frozenset()
    history_bodies: frozenset[str] = frozenset()  # of those, the types whose entries a ``count.where`` reads
    capped: frozenset[str] = frozenset()  # campaigns with frequency caps: what a /choose write counts
    # The capped campaigns a /visit (PAGELOAD) or an /event of a type (EVENT) can fire: what its write counts.
    capped_pageload: frozenset[str] = frozenset()
    capped_by_event: dict[str, frozenset[str]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    list_dependent: frozenset[str] = frozenset()  # segments that depend on user.segments (segments.py)


def capped_for(
    bundle: CompiledBundle, trigger: Trigger | None, event_types: Iterable[object] = ()
) -> frozenset[str]:
    """The capped campaigns a request's decisions may check, so its write counts only those: every capped one
    for ``/choose`` (``trigger`` None); for a /visit or /event only those with a trigger of its type (naming
    one of ``event_types``, the types of the events sent): no other campaign can fire there."""
    if trigger is None:
        return bundle.capped
    if trigger == "PAGELOAD":
        return bundle.capped_pageload
    named = [bundle.capped_by_event.get(t) for t in event_types if isinstance(t, str)]
    return frozenset().union(*(ids for ids in named if ids))


def serves(bundle: CompiledBundle, sec: str) -> bool:
    """Whether the bundle's campaigns answer requests of ``sec`` (bundle.md §1 ``sections``)."""
    return bundle.sections is None or sec in bundle.sections


def _ranked(campaigns: list[CompiledCampaign]) -> tuple[CompiledCampaign, ...]:
    # Highest priority first, ties in bundle order (bundle.md §4).
    return tuple(sorted(campaigns, key=lambda c: (-c.priority, c.order)))


def _count_windows(condition: Any, into: dict[str, float], bodies: set[str]) -> dict[str, float]:
    """event type → the longest ``withinDays`` any ``count`` condition asks of it; adds to ``bodies`` the
    types whose entries a ``count.where`` reads (their event and ctx).

    Walks the condition's grammar (``all``/``any``/``not``/``count.where``) with a stack, not recursion.
    """
    stack = [condition]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        for kind in ("all", "any"):
            if isinstance(node.get(kind), list):
                stack.extend(node[kind])
        stack.append(node.get("not"))
        count = node.get("count")
        if isinstance(count, dict):
            if isinstance(count.get("event"), str):
                days = count.get("withinDays")
                days = float(days) if isinstance(days, int | float) else 0.0
                into[count["event"]] = max(into.get(count["event"], 0.0), days)
                if count.get("where") is not None:
                    bodies.add(count["event"])
            stack.append(count.get("where"))
    return into


def compile_bundle(bundle: Bundle) -> CompiledBundle:
    campaigns: list[CompiledCampaign] = []
    for order, c in enumerate(bundle.campaigns):
        experiences = []
        for e in c.experiences:
            variations = tuple(
                CompiledVariation(
                    variation_id=v.variation_id,
                    weight=v.weight,
                    control=v.control,
                    contents=() if v.control else tuple(ContentTemplate.build(ct) for ct in v.contents),
                )
                for v in e.variations
            )
            experiences.append(
                CompiledExperience(
                    experience_id=e.experience_id,
                    test_id=e.test_id,
                    audience=compile_condition(e.audience),
                    variations=variations,
                    by_id={v.variation_id: v for v in variations},
                )
            )
        campaigns.append(
            CompiledCampaign(
                campaign_id=c.campaign_id,
                order=order,
                priority=c.priority,
                active=c.status == "active",
                start=_ts(c.start),
                end=_ts(c.end),
                selector=c.selector,
                group=c.group,
                audience=compile_condition(c.audience),
                triggers=tuple(
                    CompiledTrigger(
                        type=t.type,
                        events=frozenset(t.events),
                        condition=compile_condition(t.condition),
                        delay_time=t.delay_time,
                    )
                    for t in c.triggers
                ),
                experiences=tuple(experiences),
                source=c,
                caps=FrequencyCaps.of(c.frequency),
            )
        )
    by_selector: dict[str, list[CompiledCampaign]] = {}
    by_group: dict[str, list[CompiledCampaign]] = {}
    for compiled in campaigns:
        if compiled.selector is not None:
            by_selector.setdefault(compiled.selector, []).append(compiled)
        if compiled.group is not None:
            by_group.setdefault(compiled.group, []).append(compiled)
    raw_conditions = [s.condition for s in bundle.segments] + [x.source.audience for x in campaigns]
    raw_conditions += [t.condition for c in bundle.campaigns for t in c.triggers]
    raw_conditions += [e.audience for c in bundle.campaigns for e in c.experiences]
    capped_pageload: set[str] = set()
    capped_by_event: dict[str, set[str]] = {}
    for compiled in campaigns:
        if compiled.caps is None:
            continue
        for trigger in compiled.triggers:
            if trigger.type == "PAGELOAD":
                capped_pageload.add(compiled.campaign_id)
            elif trigger.type == "EVENT":
                for event_type in trigger.events:
                    capped_by_event.setdefault(event_type, set()).add(compiled.campaign_id)
    windows: dict[str, float] = {}
    bodies: set[str] = set()
    for condition in raw_conditions:
        _count_windows(condition, windows, bodies)
    return CompiledBundle(
        version=bundle.version,
        bundle=bundle,
        campaigns=tuple(campaigns),
        ranked=_ranked(campaigns),
        by_id={c.campaign_id: c for c in campaigns},
        by_selector={k: _ranked(v) for k, v in by_selector.items()},
        by_group={k: _ranked(v) for k, v in by_group.items()},
        segments={s.segment_id: compile_condition(s.condition) for s in bundle.segments},
        strategies={s.strategy_id: s for s in bundle.strategies},
        strategy_numbers={s.strategy_id: i + 1 for i, s in enumerate(bundle.strategies)},
        catalog={i.product_id: i.model_dump(by_alias=True) for i in bundle.catalog},
        sections=None if bundle.sections is None else frozenset(bundle.sections),
        history_days=max(windows.values(), default=0.0),
        history_types=frozenset(windows),
        history_bodies=frozenset(bodies),
        capped=frozenset(c.campaign_id for c in campaigns if c.caps is not None),
        capped_pageload=frozenset(capped_pageload),
        capped_by_event={k: frozenset(v) for k, v in capped_by_event.items()},
        list_dependent=segment_graph(bundle.segments),
    )
