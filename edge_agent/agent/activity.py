"""What the app has been asking, in memory: SDK requests per minute over the last hour and the last one.

Fed by the observe middleware for every request to an SDK route (access class ``sdk``); the status page
reads it. Sixty one-minute buckets in a ring, so memory is fixed whatever the traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.clock import Clock

MINUTES = 60


@dataclass(frozen=True, slots=True)
class LastRequest:
    route: str
    status: int
    at: float  # wall clock, seconds


class Activity:
    """The middleware records SDK routes only: operator calls (the status page's own refresh, a Prometheus
    scrape) say nothing about whether the app talks to the agent."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._minute = [-1] * MINUTES  # the minute (epoch // 60) each bucket counts, -1 = never
        self._count = [0] * MINUTES
        self.last: LastRequest | None = None

    def record(self, route: str, status: int) -> None:
        now = self.clock.now()
        minute = int(now // 60)
        slot = minute % MINUTES
        if self._minute[slot] != minute:
            self._minute[slot], self._count[slot] = minute, 0
        self._count[slot] += 1
        self.last = LastRequest(route, status, now)

    def per_minute(self, now: float, minutes: int = MINUTES) -> list[int]:
        """Requests in each of the last ``minutes`` whole minutes, oldest first; the current one last."""
        current = int(now // 60)
        out = []
        for minute in range(current - min(minutes, MINUTES) + 1, current + 1):
            slot = minute % MINUTES
            out.append(self._count[slot] if self._minute[slot] == minute else 0)
        return out
