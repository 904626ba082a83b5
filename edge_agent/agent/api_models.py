"""What the agent answers, and the operator request bodies, as pydantic models: the OpenAPI document
(``agent/openapi.py``) is generated from them and from the SDK request models in ``agent/wire.py``.

Answers are described, not enforced: handlers build plain dicts, so every model allows fields it does
not name (the SDKs ignore unknown keys too, sdk-wire-contract §2.9).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorEnvelope(Answer):
    """Every 4xx and 5xx the agent writes (agent-api §6); ``errors`` name the field: ``"data.0.type: …"``."""

    ok: Literal[False]
    status: int
    error: str
    errors: list[str]


class UserOut(Answer):
    uid: str
    ses: str | None = None


class CampaignsAnswer(Answer):
    """``/visit`` and ``/event``: the campaigns the request's PAGELOAD or EVENT triggers fire."""

    user: UserOut
    campaigns: list[dict[str, Any]]


class ChooseAnswer(Answer):
    user: UserOut
    data: list[dict[str, Any]]


class UserAnswer(Answer):
    user: UserOut


class StrategyAnswer(Answer):
    user: UserOut
    data: list[dict[str, Any]] = Field(description="one Products object per requested strategy, in order")


class Ok(Answer):
    ok: Literal[True]


class ReadyAnswer(Ok):
    bundle: str | None = None


class StorageIncident(Answer):
    """A corrupt database moved aside; shown until ``POST /admin/storage/acknowledge``."""

    at: float
    path: str
    moved_to: str = Field(alias="movedTo", description="salvage it with `edge-agent queue salvage FILE`")
    reason: str
    acknowledged_at: float | None = Field(alias="acknowledgedAt")


class StorageStatus(Answer):
    path: str
    state: Literal["ok", "degraded", "unavailable"] = Field(
        description="degraded while writes fail, unavailable while the database is not open; "
        "/readyz answers 503 for both"
    )
    reason: str | None = Field(description="SQLite's reason while degraded or unavailable")
    since: float
    incidents: list[StorageIncident]
    size_bytes: int = Field(alias="sizeBytes")
    wal_bytes: int = Field(alias="walBytes")


class Verdict(Answer):
    """What the status page says first (``agent/verdict.py``): working offline is normal, not a fault."""

    level: Literal["ok", "offline", "attention", "fault"]
    title: str
    detail: str
    since: float | None = Field(description="when the state the verdict names began (epoch seconds)")


class ActivityStatus(Answer):
    last_request: dict[str, Any] | None = Field(
        alias="lastRequest", description="the last SDK request: {route, status, at}; null since start"
    )
    requests_per_minute: float = Field(alias="requestsPerMinute", description="mean of the last 5 minutes")
    requests_last_hour: int = Field(alias="requestsLastHour")


class DecisionsStatus(Answer):
    last_hour: int = Field(alias="lastHour", description="decisions of every route in the last hour")
    last_at: float | None = Field(alias="lastAt")


class StatusAnswer(Answer):
    version: str
    time: float = Field(description="the agent's clock when it answered (epoch seconds)")
    uptime_seconds: float = Field(alias="uptimeSeconds")
    bundle: dict[str, Any] | None
    queue: dict[str, Any] = Field(
        description="pending, oldestAgeSeconds, deadLetter, delivered, bytes, lastDeadLetter "
        "{path, status, error (readable), receivedAt}"
    )
    sync: dict[str, Any]
    storage: StorageStatus
    activity: ActivityStatus
    decisions: DecisionsStatus
    verdict: Verdict


class AcknowledgedAnswer(Ok):
    acknowledged: int


class QueueAnswer(Answer):
    summary: dict[str, Any]
    rows: list[dict[str, Any]]


class RetriedAnswer(Ok):
    retried: int


class PurgedAnswer(Ok):
    purged: int


class BundleAnswer(Ok):
    version: str


class SyncNowAnswer(Ok):
    push: dict[str, Any] | None = None
    pull: dict[str, Any] | None = None
    sync: dict[str, Any]


class ResumedAnswer(Ok):
    resumed: list[str]
    paused: dict[str, Any]


QueueState = Literal["pending", "delivered", "dead"]


class QueueRetryIn(BaseModel):
    """``POST /admin/queue/retry``: ``ids`` or ``all: true``."""

    ids: list[str] | None = None
    all: bool | None = None


class QueuePurgeIn(BaseModel):
    """``POST /admin/queue/purge``: ``state`` and/or ``ids``."""

    state: QueueState | None = None
    ids: list[str] | None = None
