"""Bundle pull (upstream.md §2): ask the upstream what changed since our version, apply it, validate it
completely and hand it to the agent. A bad or empty answer never replaces a good bundle.

::

    GET {upstream.url}/edge/v1/bundle?since=<stored current version>
        Authorization: Bearer <key>                (UpstreamClient.pull_sec: the agent's one sec's
                                                    section key, else upstream.api_key, when set)
        If-None-Match: <stored ETag>               (when the current bundle came from the upstream)

- ``304`` → nothing changed; "last checked" moves (``state.last_pull``, ``meta.bundle_checked_at``).
- ``200 {"full": true, ...bundle}`` → replaces ours (an answer without ``full`` is read as full).
- ``200 {"full": false, "base", "version", "upserts", "deletes"}`` → applied on the stored current
  bundle (``apply_delta``); a ``base`` that is not our version makes us ask again without ``since``.
- The result is validated by ``parse_bundle``, then ``on_bundle(doc, source, etag)`` compiles, stores
  (current → previous in one transaction) and swaps; it may raise ``BundleInvalid`` for problems only
  compiling finds. Invalid or empty answers are ``rejected``; no usable answer is an ``error``.

Every call goes through the one :class:`~edge_agent.sync.client.UpstreamClient` (URL, auth, timeouts,
status classification, ``Retry-After``). Schedule: ``pull_delay``. Never imports the agent (the callback
stands for it).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from edge_agent.clock import Clock
from edge_agent.config.settings import Settings
from edge_agent.errors import BundleInvalid
from edge_agent.storage.bundles import (
    bundle_depth_problem,
    load_stored_bundle,
    parse_bundle,
    stored_bundle_head,
    touch_bundle_checked,
)
from edge_agent.storage.database import Database
from edge_agent.sync.client import CallResult, UpstreamClient, retryable
from edge_agent.sync.pacing import retry_after_delay
from edge_agent.sync.pull_model import DeltaError, PullReport, apply_delta, pull_delay
from edge_agent.sync.state import SyncState

log = logging.getLogger(__name__)

SOURCE = "upstream"
"""``source`` recorded for bundles the pull stored (``/status`` ``bundle.source``)."""

OnBundle = Callable[[dict[str, Any], str, str | None], Awaitable[object]]
"""``on_bundle(doc, source, etag)``: compile, store and swap a validated bundle; raise BundleInvalid."""


class Puller:
    """Pulls bundle updates. ``pull()`` is the job body; it is serialized by a lock, so the scheduled
    pull and an operator's ``POST /admin/sync`` never apply two answers at once."""

    def __init__(
        self,
        db: Database,
        client: UpstreamClient,
        settings: Settings,
        clock: Clock,
        state: SyncState,
        on_bundle: OnBundle,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.db, self.client, self.settings, self.clock = db, client, settings, clock
        self.state, self.on_bundle = state, on_bundle
        self.rng = rng or random.Random()
        self.failures = 0  # consecutive pulls that ended in rejected or error; stretches the interval
        # The first pull waits a random part of start_jitter_s, so a fleet restarting together spreads out.
        self.next_due_at = clock.now() + self.rng.uniform(0, settings.sync.start_jitter_s)
        self._lock = asyncio.Lock()

    def due(self, now: float) -> bool:
        return now >= self.next_due_at

    def make_due(self) -> None:
        """Pull on the next tick (the upstream just came back)."""
        self.next_due_at = self.clock.now()

    async def pull(self, *, force: bool = False) -> PullReport | None:
        """Pull once if due (or ``force``: now, ignoring the stretched interval and ``Retry-After``).

        Returns None when not due (nothing was asked), else the report, which is also recorded in
        ``state`` (``last_pull``, connectivity, ``attempt:pull:<outcome>``). Never raises for upstream
        or bundle problems; those are outcomes.
        """
        async with self._lock:
            now = self.clock.now()
            if not force and not self.due(now):
                return None
            report = await self._pull_once(now)
            self._record(report)
            return report

    async def probe(self) -> bool:
        """Is the upstream back? ``HEAD`` on the bundle route: any answer but a retryable failure (5xx,
        408, 425, 429) counts as up. Changes no bundle and no connectivity state, only counters."""
        up = not retryable((await self.client.head_bundle()).status)
        self.state.count_attempt("probe", "up" if up else "down")
        return up

    async def _fetch(
        self, since: str | None, etag: str | None, now: float, *, refetched: bool = False
    ) -> tuple[dict[str, Any] | None, CallResult, PullReport | None]:
        """One GET: the decoded answer, or the report that ends the pull (304, an error, a refusal)."""
        answer = await self.client.get_bundle(since, etag)
        if answer.status is None:
            error = f"upstream unreachable: {answer.error}"
            return None, answer, PullReport("error", now, refetched=refetched, errors=[error])
        if answer.status == 304:
            return None, answer, PullReport("not_modified", now, version=since, status=304)
        if answer.status != 200:
            error = f"upstream answered {answer.status}: {_snippet(answer.raw)}"
            return None, answer, PullReport(
                "error", now, status=answer.status, retry_after=answer.retry_after,
                refetched=refetched, errors=[error],
            )  # fmt: skip
        doc, problem = _decode(answer.raw)
        if problem is not None:
            return (
                None,
                answer,
                PullReport("rejected", now, status=200, refetched=refetched, errors=[problem]),
            )
        return doc, answer, None

    async def _pull_once(self, now: float) -> PullReport:
        head = await self.db.read(stored_bundle_head)
        since = head["version"] if head else None
        # Only an ETag the upstream gave us is worth sending back.
        etag = head["etag"] if head and head["source"] == SOURCE else None
        doc, answer, ended = await self._fetch(since, etag, now)
        refetched = False
        if (
            ended is None
            and doc is not None
            and _is_delta(doc)
            and (since is None or doc.get("base") != since)
        ):
            # A delta on a version we do not have: only a full bundle can help.
            log.info("bundle delta is based on %r, ours is %r: asking in full", doc.get("base"), since)
            refetched = True
            doc, answer, ended = await self._fetch(None, None, now, refetched=True)
            if ended is None and doc is not None and _is_delta(doc):
                problem = "bundle: asked without since, the upstream answered a delta again"
                ended = PullReport("rejected", now, status=200, refetched=True, errors=[problem])
        if ended is not None:
            if ended.outcome == "not_modified":
                await self.db.write(lambda conn: touch_bundle_checked(conn, now))
            return ended
        assert doc is not None
        offered: str = doc["version"]
        base: str | None = None
        if _is_delta(doc):
            stored = await self.db.read(load_stored_bundle)
            if stored is None:  # removed between the two reads (another process)
                return PullReport("error", now, status=200, errors=["bundle: no stored bundle for the delta"])
            base = since
            try:
                doc = apply_delta(stored["doc"], doc)
            except DeltaError as exc:
                return PullReport("rejected", now, version=offered, status=200, base=base, errors=[str(exc)])
        else:
            doc = {key: value for key, value in doc.items() if key != "full"}
        report = PullReport(
            "full" if base is None else "delta",
            now,
            version=offered,
            status=200,
            base=base,
            refetched=refetched,
        )
        try:
            model, doc = parse_bundle(doc)
            await self.on_bundle(doc, SOURCE, answer.etag)
        except BundleInvalid as exc:
            report.outcome, report.errors = "rejected", list(exc.errors)
            return report
        report.version = model.version
        await self.db.write(lambda conn: touch_bundle_checked(conn, now))
        return report

    def _record(self, report: PullReport) -> None:
        state, now = self.state, report.at
        if report.outcome in ("not_modified", "full", "delta"):
            self.failures = 0
            state.success(now)
        elif report.outcome == "rejected":
            # The upstream is reachable, so connectivity is fine; the refusal shows in lastPull/lastError.
            self.failures += 1
            state.success(now)
            state.last_error = f"bundle rejected: {report.errors[0] if report.errors else 'invalid'}"
        else:
            self.failures += 1
            # Answered with a status (a 5xx, a 401) is "reachable" (degraded); no answer at all is offline.
            error = report.errors[0] if report.errors else "pull failed"
            state.failure(now, error, reachable=report.status is not None)
        delay = pull_delay(self.settings.sync.pull_interval_s, self.failures, self.rng)
        if report.retry_after is not None:
            delay = max(delay, retry_after_delay(report.retry_after, self.rng))
        self.next_due_at = report.next_pull_at = state.next_pull_at = now + delay
        state.last_pull = report.summary()
        state.count_attempt("pull", report.outcome)
        if report.outcome in ("rejected", "error"):
            log.warning("bundle pull %s: %s", report.outcome, "; ".join(report.errors[:5]))
        elif report.outcome != "not_modified":
            log.info("bundle %s installed from the upstream (%s)", report.version, report.outcome)


def _is_delta(doc: dict[str, Any]) -> bool:
    return doc.get("full") is False


def _decode(body: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """The answer as an object, or the reason it is refused (empty answers count as invalid)."""
    if not body.strip():
        return None, "bundle: empty answer (no body)"
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return None, f"bundle: not valid JSON: {exc}"
    if not isinstance(doc, dict):
        return None, "bundle: the answer is not a JSON object"
    depth = bundle_depth_problem(doc)  # before the delta is copied and merged: parse_bundle comes later
    if depth is not None:
        return None, depth
    if not isinstance(doc.get("version"), str) or not doc["version"]:
        return None, "version: missing from the answer (empty or invalid bundle)"
    return copy.copy(doc), None


def _snippet(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", "replace").strip().replace("\n", " ")
    return text[:limit] + ("…" if len(text) > limit else "") or "(no body)"
