"""Prometheus metrics, one registry per app (tests run many apps in one process).

Request metrics are updated by the request pipeline once the answer is rendered (so the status is the one
sent); the sync counters are read from ``SyncState`` at each scrape (``SyncCollector``), because the sync
package does not import the agent and keeps plain counts. Queue and bundle gauges are refreshed by the
``/metrics`` handler from one read on the reader thread. Process (``process_*``) and Python
(``python_info``) series come from prometheus-client's own collectors, on this app's registry.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge_agent import __version__
from edge_agent.sync.client import DEAD_REASONS, DELIVERED_REASONS, RETRY_REASONS
from edge_agent.sync.state import SyncState

STATES = ("online", "offline", "degraded", "paused")


class SyncCollector(Collector):
    """Exports ``SyncState.counters`` (key scheme in ``sync/state.py``) and the connectivity state."""

    def __init__(self, state: SyncState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        counts = self.state.counters
        for fate, name, text, reasons in (
            ("delivered", "edge_agent_delivered", "Outbox rows delivered upstream", DELIVERED_REASONS),
            ("retried", "edge_agent_retried", "Outbox row deliveries to be retried", RETRY_REASONS),
            ("dead", "edge_agent_dead_lettered", "Outbox rows moved to dead letter", DEAD_REASONS),
        ):
            # Every reason from the start (at 0), so rate() and absent-series alerts work at once.
            family = CounterMetricFamily(name, f"{text}, by reason", labels=["reason"])
            for why in reasons:
                family.add_metric([why], counts.get(f"{fate}:{why}", 0))
            yield family
        for key, name, text in (
            ("pruned", "edge_agent_pruned", "Delivered rows pruned after retention.delivered_days"),
            ("upstream_back", "edge_agent_upstream_back", "Times the upstream came back after an outage"),
        ):
            yield CounterMetricFamily(name, text, value=counts.get(key, 0))
        dropped = CounterMetricFamily(
            "edge_agent_dropped",
            "Outbox rows evicted (queue bounds, operator purge) by reason",
            labels=["reason"],
        )
        attempts = CounterMetricFamily(
            "edge_agent_sync_attempts", "Sync job runs by job and outcome", labels=["job", "outcome"]
        )
        for key, value in sorted(counts.items()):
            kind, _, rest = key.partition(":")
            if kind == "dropped" and rest:
                dropped.add_metric([rest], value)
            elif kind == "attempt" and ":" in rest:
                job, _, outcome = rest.partition(":")
                attempts.add_metric([job, outcome], value)
        yield dropped
        yield attempts
        current = self.state.as_dict()["state"]
        state = GaugeMetricFamily("edge_agent_sync_state", "1 for the current sync state", labels=["state"])
        for name in STATES:
            state.add_metric([name], 1.0 if name == current else 0.0)
        yield state
        yield GaugeMetricFamily(
            "edge_agent_sync_consecutive_failures",
            "Upstream calls failed in a row",
            value=self.state.consecutive_failures,
        )


class Metrics:
    def __init__(self, sync_state: SyncState | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "edge_agent_requests",
            "HTTP requests by route name (unmatched: no route) and the status sent",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "edge_agent_request_seconds",
            "HTTP request latency by route name and status class (2xx, 4xx, 5xx)",
            ["route", "status_class"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        # (route, status) → its request counter and latency histogram: ``labels()`` per request cost more
        # than the counting itself.
        self._request_children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self.queue_pending = Gauge("edge_agent_queue_pending", "Outbox rows waiting", registry=self.registry)
        self.queue_oldest = Gauge(
            "edge_agent_queue_oldest_pending_seconds",
            "Age of the oldest waiting outbox row",
            registry=self.registry,
        )
        self.queue_dead = Gauge("edge_agent_queue_dead", "Dead-lettered outbox rows", registry=self.registry)
        self.bundle_age = Gauge(
            "edge_agent_bundle_age_seconds", "Age of the active bundle", registry=self.registry
        )
        if sync_state is not None:
            self.registry.register(SyncCollector(sync_state))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        Gauge(
            "edge_agent_build_info",
            "Always 1: the running edge-agent's version and Python",
            ["version", "python", "implementation"],
            registry=self.registry,
        ).labels(__version__, platform.python_version(), platform.python_implementation()).set(1)
        self.engagement_duplicates = Counter(
            "edge_agent_engagement_duplicates",
            "Engagement hits folded into an earlier one",
            registry=self.registry,
        )

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        children = self._request_children.get((route, status))
        if children is None:  # route labels and statuses are bounded sets: so is this cache
            children = (
                self.requests.labels(route=route, status=str(status)),
                self.latency.labels(route=route, status_class=f"{status // 100}xx"),
            )
            self._request_children[route, status] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
