"""Prometheus metrics, one registry per app (tests run many apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "edge_agent_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "edge_agent_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
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
        self.delivered = Counter(
            "edge_agent_delivered", "Outbox rows delivered upstream", registry=self.registry
        )
        self.retried = Counter("edge_agent_retried", "Upstream calls to be retried", registry=self.registry)
        self.dead_lettered = Counter(
            "edge_agent_dead_lettered", "Rows moved to dead letter", registry=self.registry
        )
        self.dropped = Counter(
            "edge_agent_dropped", "Outbox rows evicted", ["reason"], registry=self.registry
        )
        self.sync_attempts = Counter(
            "edge_agent_sync_attempts",
            "Sync job runs by job and outcome",
            ["job", "outcome"],
            registry=self.registry,
        )
        self.engagement_duplicates = Counter(
            "edge_agent_engagement_duplicates",
            "Engagement hits folded into an earlier one",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
