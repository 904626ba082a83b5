"""The upstream client: one outbox row replayed as its original call, or many rows as one batch call.

``UpstreamClient(session, settings, agent_id=..., clock=...)`` wraps one ``aiohttp.ClientSession`` (make
it with :func:`create_session`). Every call has an explicit ``ClientTimeout`` (``upstream.timeout_s``
total, ``upstream.connect_timeout_s`` connect).

Errors are split by what the caller should do, like httpx's ``TransportError`` vs ``HTTPStatusError``,
but as values instead of exceptions: nothing network-related escapes this module.

- the upstream could not be reached (refused, reset, DNS, timeout): ``CallResult(status=None, error=…)``,
  classified ``retry``;
- it answered: ``CallResult(status=…)``, classified by :func:`classify` into ``delivered`` (2xx, 409),
  ``retry`` (408, 425, 429, 5xx), ``auth`` (401, 403: pause the sec) or ``dead`` (any other 4xx).

Answers are parsed into pydantic models at this boundary; a malformed answer never raises either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import orjson
from pydantic import BaseModel, ConfigDict, ValidationError
from yarl import URL

from edge_agent import __version__
from edge_agent.clock import Clock, SystemClock
from edge_agent.config.settings import Settings
from edge_agent.storage.outbox import OutboxRow
from edge_agent.storage.values import rfc3339
from edge_agent.sync.pacing import parse_retry_after

BATCH_PATH = "/edge/v1/batch"
ERROR_TEXT_MAX = 2000

Outcome = Literal["delivered", "retry", "dead", "auth"]


def classify(status: int | None) -> Outcome:
    """upstream.md §1: 2xx and 409 delivered; 408/425/429/5xx and no answer retry; 401/403 auth; other
    4xx dead. Anything else (1xx, 3xx: redirects are not followed) is retried: never drop on a surprise."""
    if status is None:
        return "retry"
    if 200 <= status < 300 or status == 409:
        return "delivered"
    if status in (401, 403):
        return "auth"
    if status in (408, 425, 429):
        return "retry"
    if 400 <= status < 500:
        return "dead"
    return "retry"


@dataclass(slots=True, frozen=True)
class CallResult:
    """One HTTP call. ``status`` None = no answer (``error`` says why); ``retry_after`` in seconds;
    ``body`` is the answer when it was a JSON object; ``error`` holds the error text of a non-2xx."""

    status: int | None
    retry_after: float | None = None
    body: dict[str, Any] | None = None
    error: str | None = None

    @property
    def outcome(self) -> Outcome:
        return classify(self.status)


@dataclass(slots=True, frozen=True)
class ItemResult:
    """One batch item's answer; ``uid`` is the ``user.uid`` the upstream answered for it, if any."""

    id: str
    status: int
    uid: str | None = None

    @property
    def outcome(self) -> Outcome:
        return classify(self.status)


@dataclass(slots=True, frozen=True)
class BatchResult:
    """A batch call: ``call`` is the call itself; ``items`` (by row id) is filled only when it answered
    2xx with a well-formed body. A row without an item result was not processed: retry it."""

    call: CallResult
    items: dict[str, ItemResult]


class _User(BaseModel):
    model_config = ConfigDict(extra="ignore")
    uid: str | None = None


class _ReplayAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    user: _User | None = None


class _ItemAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | None = None
    status: int
    user: _User | None = None


class _BatchAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    results: list[_ItemAnswer]


def answered_uid(body: dict[str, Any] | None) -> str | None:
    """``user.uid`` of a replay answer, or None when the answer has none."""
    try:
        answer = _ReplayAnswer.model_validate(body or {})
    except ValidationError:
        return None
    return answer.user.uid if answer.user else None


def client_timeout(settings: Settings) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(
        total=settings.upstream.timeout_s, connect=settings.upstream.connect_timeout_s
    )


def create_session(settings: Settings) -> aiohttp.ClientSession:
    """A session sized for the drain (call it inside the running loop; close it on shutdown)."""
    connector = aiohttp.TCPConnector(limit=settings.sync.max_in_flight * 2)
    return aiohttp.ClientSession(
        timeout=client_timeout(settings),
        connector=connector,
        headers={"User-Agent": f"edge-agent/{__version__}"},
    )


_SLASHES = re.compile(r"/{2,}")


def api_path(path: str) -> str:
    """A stored row path as an API path: slashes collapsed, one leading ``/v2`` removed (the base URL
    carries the version when the upstream needs it)."""
    path = "/" + _SLASHES.sub("/", path).lstrip("/")
    if path == "/v2" or path.startswith("/v2/"):
        path = path[3:] or "/"
    return path


def sent_uid(row: OutboxRow) -> str | None:
    """The uid a replay of ``row`` carries: the central uid once mapped, else the local one."""
    return row.central_uid or row.uid


def replay_body(row: OutboxRow) -> dict[str, Any]:
    """The POST body as sent upstream: the stored body with ``user.uid`` set to :func:`sent_uid`."""
    body: dict[str, Any] = orjson.loads(row.body)
    user = body.get("user")
    if row.central_uid and isinstance(user, dict) and user.get("uid") == row.uid:
        body["user"] = {**user, "uid": row.central_uid}
    return body


class UpstreamClient:
    """Sends rows upstream. ``agent_id`` may be set after construction (the drain sets it from storage
    before its first call); ``clock`` stamps ``X-Edge-Sent-At``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: Settings,
        *,
        agent_id: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        if settings.upstream.url is None:
            raise ValueError("upstream.url is not set")
        self.session = session
        self.settings = settings
        self.agent_id = agent_id
        self.clock = clock or SystemClock()
        self.base_url = str(settings.upstream.url).rstrip("/")
        self.timeout = client_timeout(settings)

    def bearer(self, sec: str) -> str | None:
        """The key for ``sec`` (``upstream.section_keys``), else ``upstream.api_key``, else None."""
        key = self.settings.upstream.section_keys.get(sec) or self.settings.upstream.api_key
        return key.get_secret_value() if key is not None else None

    def url(self, path: str, query: str | None = None) -> URL:
        text = self.base_url + api_path(path) + (f"?{query}" if query else "")
        return URL(text, encoded=True)  # the stored query is already encoded: send it byte for byte

    async def replay(self, row: OutboxRow) -> CallResult:
        """Send ``row`` as its original call (POST with the mapped body, or GET engagement with its query)."""
        headers = {
            "Idempotency-Key": row.id,
            "X-Edge-Agent-Id": self.agent_id or "",
            "X-Edge-Sequence": str(row.seq),
            "X-Edge-Received-At": rfc3339(row.received_at),
            "X-Edge-Sent-At": rfc3339(self.clock.now()),
        }
        bearer = self.bearer(row.sec)
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        if row.method == "GET":
            return await self._call("GET", self.url(row.path, row.body), None, headers)
        headers["Content-Type"] = "application/json"
        return await self._call("POST", self.url(row.path), orjson.dumps(replay_body(row)), headers)

    def batch_item(self, row: OutboxRow) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": row.id, "seq": row.seq, "method": row.method, "path": api_path(row.path),
            "receivedAt": rfc3339(row.received_at), "body": None,
        }  # fmt: skip
        if row.method == "GET":
            item["path"] = f"{item['path']}?{row.body}"
        else:
            item["body"] = replay_body(row)
        return item

    async def batch(self, rows: list[OutboxRow], *, bearer: str | None) -> BatchResult:
        """Send ``rows`` as one ``POST {upstream}/edge/v1/batch`` authorised with ``bearer``.

        The caller keeps the batch within ``sync.batch_max_items`` / ``batch_max_bytes`` and groups rows
        by bearer (a batch has one ``Authorization``).
        """
        envelope = {"agentId": self.agent_id or "", "items": [self.batch_item(row) for row in rows]}
        headers = {"Content-Type": "application/json", "X-Edge-Sent-At": rfc3339(self.clock.now())}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        call = await self._call("POST", self.url(BATCH_PATH), orjson.dumps(envelope), headers)
        if call.status is None or not 200 <= call.status < 300:
            return BatchResult(call, {})
        try:
            answer = _BatchAnswer.model_validate(call.body or {})
        except ValidationError as exc:
            bad = CallResult(call.status, call.retry_after, call.body, f"malformed batch answer: {exc}")
            return BatchResult(bad, {})
        items = {
            a.id: ItemResult(a.id, a.status, a.user.uid if a.user else None)
            for a in answer.results
            if a.id is not None
        }
        return BatchResult(call, items)

    async def _call(self, method: str, url: URL, data: bytes | None, headers: dict[str, str]) -> CallResult:
        try:
            async with self.session.request(
                method, url, data=data, headers=headers, timeout=self.timeout, allow_redirects=False
            ) as response:
                raw = await response.read()
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self.clock.now())
                status = response.status
        except TimeoutError:
            return CallResult(None, error=f"timeout after {self.timeout.total} s ({method} {url.path})")
        except aiohttp.ClientError as exc:
            return CallResult(None, error=f"{type(exc).__name__}: {exc}".strip() + f" ({method} {url.path})")
        body: dict[str, Any] | None = None
        if raw:
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError:
                parsed = None
            body = parsed if isinstance(parsed, dict) else None
        error = None
        if not 200 <= status < 300:
            error = f"{status}: {raw[:ERROR_TEXT_MAX].decode(errors='replace')}"
        return CallResult(status, retry_after, body, error)
