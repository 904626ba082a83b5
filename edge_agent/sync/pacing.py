"""How fast and how often the drain calls the upstream: a token bucket, full-jitter backoff, Retry-After.

Time comes from the caller (``now`` and ``sleep``), so a test with a ``ManualClock`` and a sleep that
advances it runs the same code in virtual time.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime

Sleep = Callable[[float], Awaitable[None]]

RETRY_AFTER_MAX_S = 3600.0
"""A ``Retry-After`` longer than this is cut to it: a bad header must not stop pushing for days."""


def backoff_ceiling(failures: int, base: float, cap: float) -> float:
    """The largest delay after ``failures`` failures in a row (1 = the first): ``min(cap, base·2^(n−1))``."""
    exponent = min(max(failures, 1) - 1, 62)  # 2**62·base already exceeds any sane cap; no overflow
    return min(cap, base * 2.0**exponent)


def backoff_delay(failures: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter applied after the cap: uniform in ``[0, backoff_ceiling(failures, base, cap)]``.

    Jittering after the cap (not capping a jittered value) keeps a fleet that failed together spread over
    the whole window even once every agent has reached the cap.
    """
    return rng.uniform(0.0, backoff_ceiling(failures, base, cap))


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date), in ``[0, 3600]``.

    None when absent or unparseable (the caller falls back to its own backoff).
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(text).timestamp() - now
        except (TypeError, ValueError, IndexError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_S)


class TokenBucket:
    """At most ``rate`` takes per second on average, with bursts of at most ``burst``.

    Waiters are served in arrival order (one lock), so a slow upstream cannot starve a worker. The
    bucket starts full. ``now`` may jump backwards (a wall clock set back): elapsed time is then 0.
    """

    def __init__(self, rate: float, *, now: Callable[[], float], sleep: Sleep, burst: float = 1.0) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._now = now
        self._sleep = sleep
        self._tokens = burst
        self._last = now()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        t = self._now()
        self._tokens = min(self.burst, self._tokens + max(0.0, t - self._last) * self.rate)
        self._last = t

    async def take(self) -> float:
        """Wait for one token; returns the seconds waited (0 when one was there)."""
        waited = 0.0
        async with self._lock:
            self._refill()
            while self._tokens < 1:
                delay = (1 - self._tokens) / self.rate
                before = self._now()
                await self._sleep(delay)
                waited += delay
                self._refill()
                if self._now() <= before:
                    # The sleep is the authority on time: if it waited but this clock did not move
                    # (a frozen test clock), the wait still earned the token. Never spin.
                    self._tokens = 1.0
            self._tokens -= 1
        return waited
