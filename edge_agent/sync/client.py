"""The one upstream client: every call to the central API (push replay, batch, bundle pull, probe) goes
through :meth:`UpstreamClient._send`, which owns the rules once, like httpx's single send path:

- the URL: ``upstream.url`` + :func:`~edge_agent.paths.sdk_path` (a stored row path keeps its query
  byte for byte);
- auth per ``sec``: ``upstream.section_keys[sec]``, else ``upstream.api_key``, else none (:meth:`bearer`);
- the timeouts (``upstream.timeout_s`` total, ``upstream.connect_timeout_s`` connect), redirects not
  followed, the ``User-Agent`` of the session (:func:`create_session`);
- the status classification (:func:`classify`, upstream.md §1) and the ``Retry-After`` reading
  (:func:`~edge_agent.sync.pacing.parse_retry_after`): one table for push and pull.

Errors are split by what the caller should do, like httpx's ``TransportError`` vs ``HTTPStatusError``,
but as values instead of exceptions: nothing network-related escapes this module.

- the upstream could not be reached (refused, reset, DNS, timeout): ``CallResult(status=None, error=…)``,
  classified ``retry``;
- it answered: ``CallResult(status=…)``, classified by :func:`classify` into ``delivered`` (2xx, 409),
  ``retry`` (408, 425, 429, 5xx), ``auth`` (401, 403: pause the sec) or ``dead`` (any other 4xx).

Answers are parsed into pydantic models at this boundary; a malformed answer never raises either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import orjson
from pydantic import BaseModel, ConfigDict, ValidationError
from yarl import URL

from edge_agent import __version__
from edge_agent.clock import Clock, SystemClock
from edge_agent.config.settings import Settings
from edge_agent.paths import sdk_path
from edge_agent.storage.outbox import ERROR_TEXT_MAX, OutboxRow
from edge_agent.storage.values import rfc3339
from edge_agent.sync.pacing import parse_retry_after

BATCH_PATH = "/edge/v1/batch"
BUNDLE_PATH = "/edge/v1/bundle"

Outcome = Literal["delivered", "retry", "dead", "auth"]

_RETRY_4XX = frozenset({408, 425, 429})


def retryable(status: int | None) -> bool:
    """ "Try again later" rather than "no": no answer, 408, 425, 429, 5xx (upstream.md §1)."""
    return status is None or status >= 500 or status in _RETRY_4XX


def classify(status: int | None) -> Outcome:
    """upstream.md §1: 2xx and 409 delivered; :func:`retryable` retry; 401/403 auth; other 4xx dead.
    Anything else (1xx, 3xx: redirects are not followed) is retried: never drop on a surprise."""
    if status is not None and (200 <= status < 300 or status == 409):
        return "delivered"
    if status in (401, 403):
        return "auth"
    if status is not None and 400 <= status < 500 and not retryable(status):
        return "dead"
    return "retry"


# Why a row was delivered, retried or dead-lettered: the ``reason`` label of /metrics, a bounded set.
DELIVERED_REASONS = ("accepted", "duplicate")
RETRY_REASONS = (
    "no_answer",  # refused, reset, DNS, timeout: no HTTP answer
    "timeout",  # 408
    "too_early",  # 425
    "rate_limited",  # 429
    "server_error",  # 5xx
    "unexpected",  # 1xx, 3xx
    "batch_refused",  # a batch call answered a 4xx about the call, not the rows
    "no_item",  # a batch answer without an item for the row
)
DEAD_REASONS = ("bad_request", "not_found", "gone", "too_large", "unprocessable", "client_error")
_STATUS_REASONS = {
    409: "duplicate",
    400: "bad_request",
    404: "not_found",
    408: "timeout",
    410: "gone",
    413: "too_large",
    422: "unprocessable",
    425: "too_early",
    429: "rate_limited",
}


def reason(status: int | None) -> str:
    """The reason name of an answer's status, consistent with :func:`classify` (one of the sets above)."""
    if status is None:
        return "no_answer"
    if status in _STATUS_REASONS:
        return _STATUS_REASONS[status]
    if 200 <= status < 300:
        return "accepted"
    if status >= 500:
        return "server_error"
    return "client_error" if status >= 400 else "unexpected"


@dataclass(slots=True, frozen=True)
class CallResult:
    """One HTTP call. ``status`` None = no answer (``error`` says why); ``retry_after`` in seconds;
    ``body`` is the answer when it was a JSON object; ``error`` holds the error text of a non-2xx;
    ``raw`` the answer's bytes and ``etag`` its ``ETag`` (the bundle pull reads both)."""

    status: int | None
    retry_after: float | None = None
    body: dict[str, Any] | None = None
    error: str | None = None
    raw: bytes = b""
    etag: str | None = None

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


def sent_uid(row: OutboxRow) -> str | None:
    """The uid a replay of ``row`` carries: the central uid once mapped, else the local one."""
    return row.central_uid or row.uid


def replay_body(row: OutboxRow) -> dict[str, Any] | orjson.Fragment:
    """The POST body as sent upstream: the stored body with ``user.uid`` set to :func:`sent_uid`.

    Without a central uid that is the stored JSON itself, embedded as it is (``orjson.Fragment``): the
    drain sends thousands of rows a second, and parsing each body only to serialise it again was most
    of the loop's time building a batch (2–2.5 ms per 440 items)."""
    if not row.central_uid:
        return orjson.Fragment(row.body)
    body: dict[str, Any] = orjson.loads(row.body)
    user = body.get("user")
    if isinstance(user, dict) and user.get("uid") == row.uid:
        body["user"] = {**user, "uid": row.central_uid}
    return body


def describe(exc: aiohttp.ClientError) -> str:
    """A transport error in words: ``cannot connect to HOST:PORT: reason`` for a refused connection
    (aiohttp's own text says ``ssl:default`` even for plain http)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or str(exc.os_error) or type(exc.os_error).__name__
        return f"cannot connect to {exc.host}:{exc.port}: {reason}"
    return f"{type(exc).__name__}: {exc}".strip()


class UpstreamClient:
    """One method per upstream operation (:meth:`replay`, :meth:`batch`, :meth:`get_bundle`,
    :meth:`head_bundle`), all sent by :meth:`_send`. ``agent_id`` may be set after construction (the
    drain sets it from storage before its first call); ``clock`` stamps ``X-Edge-Sent-At`` and dates a
    ``Retry-After`` given as an HTTP date."""

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

    def bearer(self, sec: str | None) -> str | None:
        """The key for ``sec`` (``upstream.section_keys``), else ``upstream.api_key``, else None."""
        upstream = self.settings.upstream
        key = (upstream.section_keys.get(sec) if sec is not None else None) or upstream.api_key
        return key.get_secret_value() if key is not None else None

    def pull_sec(self) -> str | None:
        """The sec a bundle pull is authorised as: the agent's one sec (``auth.sections`` with exactly one
        entry, else the only ``upstream.section_keys`` entry); None (``upstream.api_key``) otherwise."""
        sections = self.settings.auth.sections or list(self.settings.upstream.section_keys)
        return sections[0] if len(sections) == 1 else None

    def url(self, path: str, query: str | None = None) -> URL:
        text = self.base_url + sdk_path(path) + (f"?{query}" if query else "")
        return URL(text, encoded=True)  # the stored query is already encoded: send it byte for byte

    async def replay(self, row: OutboxRow) -> CallResult:
        """Send ``row`` as its original call (POST with the mapped body, or GET engagement with its query)."""
        headers = {
            "Idempotency-Key": row.id,
            "X-Edge-Agent-Id": self.agent_id or "",
            "X-Edge-Sequence": str(row.seq),
            "X-Edge-Received-At": rfc3339(row.received_at),
        }
        if row.method == "GET":
            return await self._send("GET", row.path, sec=row.sec, query=row.body, headers=headers)
        return await self._send("POST", row.path, sec=row.sec, json=replay_body(row), headers=headers)

    def batch_item(self, row: OutboxRow) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": row.id, "seq": row.seq, "method": row.method, "path": sdk_path(row.path),
            "receivedAt": rfc3339(row.received_at), "body": None,
        }  # fmt: skip
        if row.method == "GET":
            item["path"] = f"{item['path']}?{row.body}"
        else:
            item["body"] = replay_body(row)
        return item

    def batch_envelope(self, rows: list[OutboxRow]) -> orjson.Fragment:
        """The batch call's body, serialised at once: the items' objects are freed before the call is
        awaited instead of living through it, where each of the cyclic GC's collections scanned them."""
        items = [self.batch_item(row) for row in rows]
        return orjson.Fragment(orjson.dumps({"agentId": self.agent_id or "", "items": items}))

    async def batch(self, rows: list[OutboxRow], *, bearer: str | None) -> BatchResult:
        """Send ``rows`` as one ``POST {upstream}/edge/v1/batch`` authorised with ``bearer``.

        The caller keeps the batch within ``sync.batch_max_items`` / ``batch_max_bytes`` and groups rows
        by bearer (a batch has one ``Authorization``; see ``batching.plan_batches``).
        """
        call = await self._send("POST", BATCH_PATH, bearer=bearer, json=self.batch_envelope(rows))
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

    async def get_bundle(self, since: str | None, etag: str | None) -> CallResult:
        """``GET {upstream}/edge/v1/bundle[?since=V]`` with ``If-None-Match`` (upstream.md §2)."""
        query = URL.build(query={"since": since}).raw_query_string if since else None
        headers = {"Accept": "application/json"} | ({"If-None-Match": etag} if etag else {})
        return await self._send("GET", BUNDLE_PATH, sec=self.pull_sec(), query=query, headers=headers)

    async def head_bundle(self) -> CallResult:
        """``HEAD`` on the bundle route: the cheap "is it back?" probe."""
        return await self._send("HEAD", BUNDLE_PATH, sec=self.pull_sec())

    async def _send(
        self,
        method: str,
        path: str,
        *,
        sec: str | None = None,
        bearer: str | None = None,
        query: str | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> CallResult:
        """The one send path. Auth is ``bearer`` when given, else :meth:`bearer` of ``sec``."""
        url = self.url(path, query)
        sent = {"X-Edge-Sent-At": rfc3339(self.clock.now())} | (headers or {})
        token = bearer if bearer is not None else self.bearer(sec)
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = None
        if json is not None:
            sent["Content-Type"] = "application/json"
            data = orjson.dumps(json)
        try:
            async with self.session.request(
                method, url, data=data, headers=sent, timeout=self.timeout, allow_redirects=False
            ) as response:
                raw = await response.read()
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self.clock.now())
                status, etag = response.status, response.headers.get("ETag")
        except TimeoutError:
            return CallResult(None, error=f"timeout after {self.timeout.total} s ({method} {url.path})")
        except aiohttp.ClientError as exc:
            return CallResult(None, error=f"{describe(exc)} ({method} {url.path})")
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
        return CallResult(status, retry_after, body, error, raw, etag)
