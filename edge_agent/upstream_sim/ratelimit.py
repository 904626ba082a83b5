"""The fleet-wide rate limit of the reference upstream, and the arrivals it counts per second.

A central API states a rate and answers ``429`` above it, often with nothing smarter than
``Retry-After: 1``; this is that API. ``rate`` calls per second are accepted across all data routes and
all agents (fixed one-second windows on the upstream's clock), the rest are refused with a fixed
``Retry-After: 1``. Every arrival on a data route is counted in its second, accepted or refused, so a
bench can read the fleet's peak from the upstream's point of view (``GET /sim/arrivals``).
"""

from __future__ import annotations

import math
from typing import Any

from edge_agent.clock import Clock

RETRY_AFTER = "1"
KEEP_SECONDS = 3600
"""Seconds of arrivals kept; older ones are forgotten so a long-running simulator stays small."""


class ArrivalLimiter:
    """``admit()`` once per data-route call: True to serve it, False to refuse it with 429.

    ``rate`` None = no limit (arrivals are still counted)."""

    def __init__(self, rate: float | None, clock: Clock) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be > 0")
        self.rate = rate
        self.clock = clock
        self._seconds: dict[int, list[int]] = {}  # second → [accepted, refused]

    def admit(self) -> bool:
        second = math.floor(self.clock.now())
        counts = self._seconds.get(second)
        if counts is None:
            counts = self._seconds[second] = [0, 0]
            if len(self._seconds) > KEEP_SECONDS:
                del self._seconds[min(self._seconds)]
        if self.rate is None or counts[0] < self.rate:
            counts[0] += 1
            return True
        counts[1] += 1
        return False

    def reset(self) -> None:
        self._seconds.clear()

    def report(self) -> dict[str, Any]:
        """``{"ratePerS", "accepted", "refused", "peakPerS", "seconds": [{"second", "accepted",
        "refused"}]}``, oldest second first; ``peakPerS`` is the most arrivals in any one second."""
        seconds = [
            {"second": second, "accepted": accepted, "refused": refused}
            for second, (accepted, refused) in sorted(self._seconds.items())
        ]
        return {
            "ratePerS": self.rate,
            "accepted": sum(s["accepted"] for s in seconds),
            "refused": sum(s["refused"] for s in seconds),
            "peakPerS": max((s["accepted"] + s["refused"] for s in seconds), default=0),
            "seconds": seconds,
        }
