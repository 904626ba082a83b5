"""Connectivity state shared by the push and pull jobs, and the counters /status and /metrics show.

Plain data, no I/O: the jobs update it, the agent reads it. ``state`` is
``online`` (last call succeeded), ``offline`` (no upstream, or it cannot be reached),
``degraded`` (reachable but refusing: 401/403 on some sec, or repeated 5xx) or ``paused`` (every
known sec paused by an auth failure).

``counters`` keys (``/metrics`` exports them): ``delivered``, ``retried``, ``dead`` (totals) with
``delivered:<reason>``, ``retried:<reason>``, ``dead:<reason>`` (reasons: ``sync/client.py``),
``dropped:<reason>``, and ``attempt:<job>:<outcome>`` for sync runs (``attempt:pull:delta``,
``attempt:push:ok``, ``attempt:probe:down``, …).

``last_pull`` is ``{"at", "outcome", "version", "errors"}`` with ``outcome`` one of ``not_modified``,
``full``, ``delta``, ``rejected`` (the upstream answered but the bundle was invalid or empty; the active
bundle stays) or ``error`` (no usable answer). ``version`` is the version the answer concerned: the new
one, the unchanged current one for ``not_modified``, the refused one (when it named one) for
``rejected``, None for ``error``. ``last_watch`` is the same shape for the watched bundle file
(``outcome``: ``loaded`` or ``rejected``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

State = Literal["online", "offline", "degraded", "paused"]


@dataclass(slots=True)
class SyncState:
    configured: bool = False
    state: State = "offline"
    state_since: float = 0.0
    last_success_at: float | None = None
    last_error: str | None = None
    next_attempt_at: float | None = None
    consecutive_failures: int = 0
    paused_secs: dict[str, str] = field(default_factory=dict)  # sec → why
    counters: Counter[str] = field(default_factory=Counter)  # delivered, retried, dead, dropped:<reason>, …
    last_pull: dict[str, Any] = field(default_factory=dict)  # what the last bundle pull did
    last_drain: dict[str, Any] = field(default_factory=dict)  # what the last drain did
    last_watch: dict[str, Any] = field(default_factory=dict)  # what the bundle file watch last did
    next_pull_at: float | None = None  # when the pull job next asks the upstream

    def _move(self, state: State, now: float) -> None:
        if state != self.state:
            self.state = state
            self.state_since = now

    def success(self, now: float) -> None:
        self.last_success_at = now
        self.consecutive_failures = 0
        self.last_error = None if not self.paused_secs else self.last_error
        self._move("degraded" if self.paused_secs else "online", now)

    def failure(
        self, now: float, error: str, *, reachable: bool, next_attempt_at: float | None = None
    ) -> None:
        """A failed call: ``reachable`` means the upstream answered (a 5xx), else it could not be reached."""
        self.consecutive_failures += 1
        self.last_error = error
        if next_attempt_at is not None:
            self.next_attempt_at = next_attempt_at
        self._move("degraded" if reachable or self.paused_secs else "offline", now)

    def count_row(self, fate: str, reason: str) -> None:
        """Count one row ``fate`` (delivered, retried, dead) for ``reason``: the total and by reason."""
        self.counters[fate] += 1
        self.counters[f"{fate}:{reason}"] += 1

    def count_attempt(self, job: str, outcome: str) -> None:
        """Count one sync run of ``job`` (push, pull, probe) ending in ``outcome``."""
        self.counters[f"attempt:{job}:{outcome}"] += 1

    def pause_sec(self, sec: str, why: str, now: float) -> None:
        self.paused_secs[sec] = why
        self.last_error = f"sec {sec}: {why}"
        self._move("degraded", now)

    def resume_sec(self, sec: str, now: float) -> None:
        self.paused_secs.pop(sec, None)
        if not self.paused_secs and self.state == "degraded" and self.consecutive_failures == 0:
            self._move("online", now)

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state if self.configured else "offline",
            "configured": self.configured,
            "stateSince": self.state_since,
            "lastSuccessAt": self.last_success_at,
            "lastError": self.last_error,
            "nextAttemptAt": self.next_attempt_at,
            "consecutiveFailures": self.consecutive_failures,
            "pausedSecs": dict(self.paused_secs),
            "counters": dict(self.counters),
            "lastPull": dict(self.last_pull),
            "lastDrain": dict(self.last_drain),
            "lastWatch": dict(self.last_watch),
            "nextPullAt": self.next_pull_at,
        }
