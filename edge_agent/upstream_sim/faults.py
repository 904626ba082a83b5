"""Fault injection: what to break, and the seeded dice that decide when.

The configuration is replaced as a whole (``POST /sim/faults``); replacing it re-seeds the random
generator, so the same configuration and the same sequence of calls give the same outcomes.
Nothing here touches HTTP: the app asks questions (``error_status()``, ``item_status()`` …) and
renders the answers. Every injected fault is counted by kind; the counts are in-memory and
cleared by ``POST /sim/reset``.

Kinds counted: ``latency``, ``reset``, ``outage``, ``error``, ``batch_error``, ``status_for_path``,
``forbid_sec``, ``reject_event_type``, ``bundle_invalid``, ``bundle_empty``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from edge_agent.clock import Clock
from edge_agent.paths import sdk_path
from edge_agent.sync.client import retryable


class FaultConfig(BaseModel):
    """The fault configuration, as JSON in camelCase (``{"errorRate": 0.2, "retryAfter": 3}``).

    Rates are probabilities per call (or per batch item for ``errorRate``). The defaults inject nothing.
    """

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)

    error_rate: float = Field(
        default=0.0, ge=0, le=1, description="Chance of an injected error per replayed call / item."
    )
    error_statuses: list[int] = Field(default_factory=lambda: [503], min_length=1)
    batch_error_rate: float = Field(
        default=0.0, ge=0, le=1, description="Chance that a whole batch call fails."
    )
    retry_after: int | None = Field(default=None, ge=0, description="Retry-After seconds on injected errors.")
    latency_ms: float | tuple[float, float] | None = Field(
        default=None, description="Added latency: fixed or [min, max]."
    )
    reset_rate: float = Field(
        default=0.0, ge=0, le=1, description="Chance of closing the connection without an answer."
    )
    outage: bool = Field(default=False, description="Every data route answers 503.")
    outage_until: float | None = Field(default=None, description="Unix seconds; an outage until then.")
    status_for_paths: dict[str, int] = Field(default_factory=dict, description="Route → status to answer.")
    reject_event_types: list[str] = Field(default_factory=list, description="/event types answered with 422.")
    forbid_secs: list[str] = Field(default_factory=list, description="sec values answered with 403.")
    bundle_fault: Literal["invalid", "empty"] | None = Field(
        default=None, description="Break the bundle answer."
    )
    seed: int | None = Field(default=None, description="Seed for reproducible randomness.")

    @field_validator("error_statuses")
    @classmethod
    def _error_statuses(cls, statuses: list[int]) -> list[int]:
        if any(not 400 <= status <= 599 for status in statuses):
            raise ValueError("every status must be in 400..599")
        return statuses

    @field_validator("status_for_paths")
    @classmethod
    def _status_for_paths(cls, mapping: dict[str, int]) -> dict[str, int]:
        if any(not 400 <= status <= 599 for status in mapping.values()):
            raise ValueError("every status must be in 400..599")
        return {canonical_route(path): status for path, status in mapping.items()}

    @field_validator("latency_ms")
    @classmethod
    def _latency(cls, value: float | tuple[float, float] | None) -> float | tuple[float, float] | None:
        if value is None:
            return None
        low, high = value if isinstance(value, tuple) else (value, value)
        if low < 0 or high < low:
            raise ValueError("latency must be >= 0, and [min, max] with min <= max")
        return value

    def public(self) -> dict[str, object]:
        """The configuration as the control API shows it (camelCase, every field)."""
        return self.model_dump(mode="json", by_alias=True)


def canonical_route(path: str) -> str:
    """``/v2//event?x=1`` → ``/event``: the query dropped, then the one SDK path rule
    (:func:`edge_agent.paths.sdk_path`: slashes collapsed, one leading ``/v2`` removed)."""
    return sdk_path(path.split("?", 1)[0])


class FaultInjector:
    """Answers "should this call fail, and how?" from the current configuration; counts what it injects."""

    def __init__(self, config: FaultConfig, clock: Clock) -> None:
        self._initial = config
        self._clock = clock
        self.counts: Counter[str] = Counter()
        self.configure(config)

    @property
    def config(self) -> FaultConfig:
        return self._config

    def configure(self, config: FaultConfig) -> None:
        """Replace the configuration and re-seed the dice (counts are kept)."""
        self._config = config
        self._rng = random.Random(config.seed)

    def reset(self) -> None:
        """Back to the configuration given at start, with no counts."""
        self.configure(self._initial)
        self.counts.clear()

    def _roll(self, rate: float) -> bool:
        # No draw when the rate is 0, so enabling one fault does not shift the dice of another.
        return rate > 0 and self._rng.random() < rate

    def latency_s(self) -> float:
        """Seconds to wait before answering (0 = none)."""
        value = self._config.latency_ms
        if value is None:
            return 0.0
        ms = self._rng.uniform(*value) if isinstance(value, tuple) else value
        if ms > 0:
            self.counts["latency"] += 1
        return ms / 1000

    def should_reset(self) -> bool:
        """True when this connection is to be closed without an answer."""
        if self._roll(self._config.reset_rate):
            self.counts["reset"] += 1
            return True
        return False

    def outage_active(self) -> bool:
        """True while in an outage (``outage``, or before ``outageUntil``); counts the refused call."""
        until = self._config.outage_until
        if self._config.outage or (until is not None and self._clock.now() < until):
            self.counts["outage"] += 1
            return True
        return False

    def path_status(self, route: str) -> int | None:
        """The status configured for this canonical route in ``statusForPaths``, if any."""
        status = self._config.status_for_paths.get(route)
        if status is not None:
            self.counts["status_for_path"] += 1
        return status

    def error_status(self, *, batch: bool = False) -> int | None:
        """A random injected error status for a call (``errorRate``) or a whole batch (``batchErrorRate``)."""
        rate = self._config.batch_error_rate if batch else self._config.error_rate
        if self._roll(rate):
            self.counts["batch_error" if batch else "error"] += 1
            return self._rng.choice(self._config.error_statuses)
        return None

    def item_status(
        self, route: str, sec: str | None, event_types: Iterable[str], *, roll_error: bool
    ) -> int | None:
        """The injected status for one item, or None. ``roll_error`` applies ``errorRate`` (batch items)."""
        if sec is not None and sec in self._config.forbid_secs:
            self.counts["forbid_sec"] += 1
            return 403
        status = self.path_status(route)
        if status is not None:
            return status
        if route == "/event" and not set(event_types).isdisjoint(self._config.reject_event_types):
            self.counts["reject_event_type"] += 1
            return 422
        return self.error_status() if roll_error else None

    def bundle_fault(self) -> Literal["invalid", "empty"] | None:
        """The configured way to break the bundle answer, counted as ``bundle_<kind>``."""
        kind = self._config.bundle_fault
        if kind is not None:
            self.counts[f"bundle_{kind}"] += 1
        return kind

    def retry_after(self, status: int) -> dict[str, str]:
        """The ``Retry-After`` header for an injected answer with this status, if configured.

        Only retryable statuses (408, 425, 429, 5xx) carry it: it means "come back later".
        """
        seconds = self._config.retry_after
        if seconds is None or not retryable(status):
            return {}
        return {"Retry-After": str(seconds)}
