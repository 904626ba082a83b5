"""The last hour in memory, minute by minute: SDK requests, queue depth and sync outcomes.

Requests are fed by the request pipeline (``agent/observe.py``) for every request to an SDK route (access
class ``sdk``); queue depth and sync outcomes by :meth:`Activity.observe`, which the sampler
(``activity_sampler.py``) and ``/status`` call. Sixty one-minute buckets per series in rings, so memory is
fixed whatever the traffic. ``/status`` ``activity`` and the status page's chart read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from edge_agent.clock import Clock

MINUTES = 60
RATE_MINUTES = 5
"""``requestsPerMinute`` is the mean over this many minutes, the current one included."""

SyncClass = Literal["ok", "failed", "skipped"]
SYNC_CLASSES: tuple[SyncClass, ...] = ("ok", "failed", "skipped")
_FAILED_OUTCOMES = frozenset({"error", "down", "rejected", "failed"})


def sync_class(outcome: str) -> SyncClass:
    """One sync run's outcome (``SyncState.count_attempt``) as the chart shows it."""
    if outcome == "skipped":
        return "skipped"
    return "failed" if outcome in _FAILED_OUTCOMES else "ok"


class MinuteRing:
    """One value per minute for the last :data:`MINUTES` minutes; a minute never written reads as ``None``."""

    def __init__(self) -> None:
        self._minute = [-1] * MINUTES  # the minute (epoch // 60) each slot holds, -1 = never
        self._value = [0] * MINUTES

    def add(self, now: float, amount: int = 1) -> None:
        slot = self._slot(now)
        self._value[slot] += amount

    def set(self, now: float, value: int) -> None:
        self._value[self._slot(now)] = value

    def series(self, now: float, minutes: int = MINUTES) -> list[int | None]:
        """The last ``minutes`` minutes, oldest first; the current one last."""
        current = int(now // 60)
        out: list[int | None] = []
        for minute in range(current - min(minutes, MINUTES) + 1, current + 1):
            slot = minute % MINUTES
            out.append(self._value[slot] if self._minute[slot] == minute else None)
        return out

    def _slot(self, now: float) -> int:
        minute = int(now // 60)
        slot = minute % MINUTES
        if self._minute[slot] != minute:
            self._minute[slot], self._value[slot] = minute, 0
        return slot


@dataclass(frozen=True, slots=True)
class LastRequest:
    route: str
    status: int
    at: float  # wall clock, seconds


class Activity:
    """The pipeline records SDK routes only: operator calls (the status page's own refresh, a Prometheus
    scrape) say nothing about whether the app talks to the agent."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.requests = MinuteRing()
        self.queue_depth = MinuteRing()  # the last depth seen in each minute
        self.sync = {name: MinuteRing() for name in SYNC_CLASSES}  # sync runs ending so, per minute
        self.last: LastRequest | None = None
        self._attempts: dict[str, int] | None = None  # the attempt counters at the last observe

    def record(self, route: str, status: int) -> None:
        now = self.clock.now()
        self.requests.add(now)
        self.last = LastRequest(route, status, now)

    def per_minute(self, now: float, minutes: int = MINUTES) -> list[int]:
        """Requests in each of the last ``minutes`` whole minutes, oldest first; the current one last."""
        return [n or 0 for n in self.requests.series(now, minutes)]

    def observe(self, now: float, pending: int, counters: Mapping[str, int]) -> None:
        """Note the queue depth, and the sync runs counted since the last call (``attempt:<job>:<outcome>``
        counters of ``SyncState``), in the current minute."""
        self.queue_depth.set(now, pending)
        attempts = {k: v for k, v in counters.items() if k.startswith("attempt:")}
        if self._attempts is not None:
            for key, value in attempts.items():
                new = value - self._attempts.get(key, 0)
                if new > 0:
                    self.sync[sync_class(key.rpartition(":")[2])].add(now, new)
        self._attempts = attempts

    def summary(self, now: float) -> dict[str, Any]:
        """``/status`` ``activity``: the last SDK request and the request rate."""
        recent = self.per_minute(now, RATE_MINUTES)
        last = self.last
        return {
            "lastRequest": None
            if last is None
            else {"route": last.route, "status": last.status, "at": last.at},
            "requestsPerMinute": round(sum(recent) / RATE_MINUTES, 1),
            "requestsLastHour": sum(self.per_minute(now)),
        }
