"""How fast and how often the drain calls the upstream: a token bucket whose rate follows AIMD, full-jitter
backoff, a failure streak that outlives a drain (``Pace.failing``), and ``Retry-After`` read once and
waited with jitter.

A fleet shares the central API's rate, so each agent paces itself by what the API answers: every
``429`` or ``503`` halves the agent's own call rate (down to ``AIMD_FLOOR``), every second without one
gives back ``AIMD_INCREASE`` calls/s (up to ``sync.max_rate``). A ``Retry-After`` is a minimum: the
wait is that plus a random part (:func:`retry_after_delay`), so agents refused in the same second do
not all return in the same second.

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


RETRY_AFTER_SPREAD = 0.5
"""A ``Retry-After`` of S seconds is waited as S plus up to ``max(1, S × RETRY_AFTER_SPREAD)`` seconds."""

AIMD_DECREASE = 0.5
AIMD_INCREASE = 1.0
"""Calls/s regained per second without a slow-down answer."""
AIMD_FLOOR = 0.2
"""The slowest an agent paces itself: one call every 5 s."""
SLOW_DOWN = frozenset({429, 503})


def retry_after_delay(seconds: float, rng: random.Random) -> float:
    """How long to wait for a ``Retry-After`` of ``seconds``: at least that, plus jitter."""
    return seconds + rng.uniform(0.0, max(1.0, seconds * RETRY_AFTER_SPREAD))


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


TRIP_AFTER = 3
"""Failed calls in a row (across drains) after which the upstream is taken as down: the drain stops
with a drain-level backoff, and until a call succeeds each drain sends one call at a time."""


class Pace:
    """The drain's pacing across drains: the token bucket, its AIMD rate, ``failed_calls`` (calls that
    failed in a row, whichever drain sent them) and ``trips`` (drains stopped by failures in a row: the
    drain-level backoff exponent). Changed only through these methods.

    The failure streak outlives a drain on purpose: an agent whose upstream is down must not send a
    fresh round of calls on every scheduled drain (every ``sync.push_interval_s``, each new row due at
    once) — across a fleet that is a steady load on an API that is trying to come back. Once
    ``TRIP_AFTER`` calls failed in a row, every further failure stops the drain with a longer backoff,
    and the probe (``sync/jobs.py``), not the drain, finds out that the upstream is back."""

    def __init__(self, ceiling: float, *, now: Callable[[], float], sleep: Sleep) -> None:
        self.ceiling = ceiling
        self.bucket = TokenBucket(ceiling, now=now, sleep=sleep)
        self.trips = 0
        self.failed_calls = 0
        self._now = now
        self._changed_at = now()

    @property
    def failing(self) -> bool:
        """``TRIP_AFTER`` calls or more failed in a row: send one call at a time until one succeeds."""
        return self.failed_calls >= TRIP_AFTER

    @property
    def rate(self) -> float:
        return self.bucket.rate

    async def take(self) -> float:
        return await self.bucket.take()

    def answered(self, status: int | None) -> None:
        """Adjust the rate to one call's answer: multiplicative decrease on 429/503, else (when the
        upstream answered) additive increase for the time since the last change."""
        now = self._now()
        if status in SLOW_DOWN:
            self.bucket.rate = max(AIMD_FLOOR, self.bucket.rate * AIMD_DECREASE)
            self._changed_at = now
        elif status is not None and self.bucket.rate < self.ceiling:
            gained = AIMD_INCREASE * max(0.0, now - self._changed_at)
            self.bucket.rate = min(self.ceiling, self.bucket.rate + gained)
            self._changed_at = now

    def failed(self) -> int:
        """One more call failed (no answer, 408/425/429/5xx); returns the failures in a row."""
        self.failed_calls += 1
        return self.failed_calls

    def tripped(self) -> int:
        """One more drain stopped by failures; returns the new exponent."""
        self.trips += 1
        return self.trips

    def reached(self) -> None:
        """The upstream answered for good (delivered, or deliberately refused): the streak is over."""
        self.failed_calls = 0
        self.trips = 0
