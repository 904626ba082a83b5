"""Frequency caps (bundle.md §4), in one place: what a cap counts, the day it counts in, and the check.

A campaign's caps (``perUser``, ``perSession``, ``perDay``; ``countOn: decision | impression``) are compiled
with the bundle (``agent/decide/compiled.FrequencyCaps``). A route whose spec is ``capped`` reads
:func:`counts` in its tracking write, so the check sees every decision committed before it; ``/choose``
decides and records inside that same write, so two calls at one instant cannot both pass a cap.

What counts: ``/choose`` decisions (the route column ``decisions.CHOOSE``); a control decision too. With
``countOn: impression``, the decisions that had an impression hit. A decision counts for the session and
the local day (``decision.timezone``) it was made in; an impression on the day of its first hit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Protocol

from edge_agent.storage.decisions import CHOOSE


@dataclass(slots=True, frozen=True)
class CapCounts:
    """One campaign's decisions and impressed decisions for a profile: in all, this session, today."""

    decisions: int = 0
    session_decisions: int = 0
    day_decisions: int = 0
    impressions: int = 0
    session_impressions: int = 0
    day_impressions: int = 0


class CapLimits(Protocol):
    @property
    def per_user(self) -> int | None: ...
    @property
    def per_session(self) -> int | None: ...
    @property
    def per_day(self) -> int | None: ...
    @property
    def on_impression(self) -> bool: ...


class Capped(Protocol):
    @property
    def campaign_id(self) -> str: ...
    @property
    def caps(self) -> CapLimits | None: ...


#: True while a campaign is under all of its caps.
CapCheck = Callable[[Capped], bool]


def day_start(now: float, tz: tzinfo | None) -> float:
    """The start of ``now``'s calendar day in ``tz`` (naive local time when None): per-day caps' reset."""
    local = datetime.fromtimestamp(now, tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def counts(
    conn: sqlite3.Connection, uid: str, ses: str, since_day: float, campaigns: Collection[str]
) -> dict[str, CapCounts]:
    """campaign id → :class:`CapCounts` for each of ``campaigns`` (the bundle's capped ones) the profile
    has ``/choose`` decisions of; ``since_day``: the start of the local day (:func:`day_start`). Only
    capped campaigns are counted, so a profile's uncapped decisions cost a request nothing."""
    if not campaigns:
        return {}
    marks = ",".join("?" * len(campaigns))
    rows = conn.execute(
        "SELECT campaign_id, COUNT(*), TOTAL(ses = ?), TOTAL(at >= ?), COUNT(impressed_at), "
        "TOTAL(impressed_at IS NOT NULL AND ses = ?), TOTAL(impressed_at >= ?) "
        f"FROM decisions WHERE uid = ? AND campaign_id IN ({marks}) AND route = ? GROUP BY campaign_id",
        (ses, since_day, ses, since_day, uid, *campaigns, CHOOSE),
    )
    return {row[0]: CapCounts(*(int(n) for n in tuple(row)[1:])) for row in rows}


def under(limits: CapLimits, used: CapCounts) -> bool:
    """Whether ``used`` is below every one of ``limits``: capped once a count reaches its cap."""
    if limits.on_impression:
        totals = (used.impressions, used.session_impressions, used.day_impressions)
    else:
        totals = (used.decisions, used.session_decisions, used.day_decisions)
    caps = (limits.per_user, limits.per_session, limits.per_day)
    return all(cap is None or total < cap for cap, total in zip(caps, totals, strict=True))


def check(used: Mapping[str, CapCounts]) -> CapCheck:
    """A :data:`CapCheck` over a profile's counts."""

    def allowed(campaign: Capped) -> bool:
        limits = campaign.caps
        if limits is None:
            return True
        counted = used.get(campaign.campaign_id)
        return counted is None or under(limits, counted)

    return allowed
