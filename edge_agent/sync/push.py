"""The push side of sync: drain the outbox to the upstream (upstream.md §1).

Interface for the scheduler, ``/admin/sync``, ``/status`` and the CLI::

    session = create_session(settings)                              # sync/client.py; close on shutdown
    client = UpstreamClient(session, settings, clock=clock)         # None when upstream.url is unset
    pusher = Pusher(db, client, settings, clock, state)             # one per process, shares SyncState
    report = await pusher.drain()              # the scheduled job, every sync.push_interval_s
    report = await pusher.drain(force=True)    # operator "sync now"
    pusher.resume("sec")                       # operator: lift an auth pause (None = every sec)
    await pusher.purge(state="dead")           # operator purge, counted as dropped:operator

Rules, in the order a drain applies them:

- One drain at a time (a lock); each row is attempted at most once per drain, so a drain always ends.
- The first drain after start waits a random 0–``sync.start_jitter_s`` (not a forced one).
- Maintenance (bounds, pruning; ``outbox_admin``) runs at most once a minute, and on every forced drain,
  even without an upstream: an offline agent must stay bounded too.
- A drain-level pause (``state.next_attempt_at``: a ``Retry-After``, or backoff after repeated failures)
  makes a scheduled drain return at once; ``force`` ignores it and every row's backoff timer.
- Rows go oldest first by ``seq``; a row waits while an older row of its profile waits (backoff, a paused
  sec, a failure earlier in this drain). Replay runs one chain of rows per profile, up to
  ``sync.max_in_flight`` chains at once; batch sends at most one row per profile per call, because batch
  items fail independently and a later row must never overtake an earlier one.
- 2xx/409 delivered; 408/425/429/5xx/no answer: the row retries after a full-jitter backoff
  (``next_attempt_at``, ``attempts`` + 1); a ``Retry-After`` pauses the whole drain until then (plus
  jitter); three failed calls in a row, counted across drains, stop the drain with a drain-level
  backoff, every later failure before a success stops it again with a longer one, and meanwhile each
  drain sends one call at a time. Other 4xx: dead letter.
- 401/403 pause that sec (``state.pause_sec``, state ``degraded``); its rows stay pending and due, other
  secs keep flowing. **A pause is lifted only by :meth:`Pusher.resume`** (an operator, who has fixed the
  key) or a restart (pauses live in memory, and a restart is how a new key is loaded). ``force`` does not
  lift it: "sync now" must not burn a bad key on the whole queue.
- ``sync.mode`` ``auto`` tries batch and falls back to replay for the rest of the process on a 404/405
  from the batch route.
- Identity: an answer whose ``user.uid`` differs from the uid sent records ``profiles.central_uid``;
  later replays of that profile carry it.
- Outcomes are written after the answers, once per replay wave and once per batch round, in writes of
  at most ``drain.FLUSH_MAX_MARKS`` rows each, so a request's write never queues behind a wave's: a
  crash in between re-sends those rows and the upstream deduplicates them by Idempotency-Key
  (at-least-once + dedup).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque

from edge_agent.clock import Clock
from edge_agent.config.settings import Settings
from edge_agent.storage import meta, outbox_admin
from edge_agent.storage.database import Database
from edge_agent.storage.outbox import OutboxRow, ready_rows
from edge_agent.storage.outbox_admin import RowState
from edge_agent.sync.batching import plan_batches
from edge_agent.sync.client import Outcome, UpstreamClient
from edge_agent.sync.drain import DrainReport, Run
from edge_agent.sync.pacing import Pace, Sleep
from edge_agent.sync.state import SyncState

log = logging.getLogger(__name__)

MAINTAIN_EVERY_S = 60.0
REPLAY_WINDOW_MAX = 1000
"""Most rows one replay wave reads; their outcomes are written at the end of the wave."""


class Pusher:
    """Drains the outbox. ``client`` None = no upstream configured: drains only maintain the queue."""

    def __init__(
        self,
        db: Database,
        client: UpstreamClient | None,
        settings: Settings,
        clock: Clock,
        state: SyncState,
        *,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
        start_jitter: bool = True,
    ) -> None:
        self.db = db
        self.client = client
        self.settings = settings
        self.clock = clock
        self.state = state
        self.sleep: Sleep = sleep or asyncio.sleep
        self.rng = rng or random.Random()
        self.batch_unsupported = False  # auto mode learnt that the upstream has no batch route
        self._first_drain = start_jitter
        self._maintained_at = float("-inf")
        self._lock = asyncio.Lock()  # the one lock of the drain: drains never overlap
        self.pace = Pace(settings.sync.max_rate, now=clock.now, sleep=self.sleep)

    # -- operator ------------------------------------------------------------------------------------

    def resume(self, sec: str | None = None) -> list[str]:
        """Lift the auth pause of ``sec`` (None = every sec); returns the secs resumed."""
        secs = list(self.state.paused_secs) if sec is None else [sec] if sec in self.state.paused_secs else []
        for name in secs:
            self.state.resume_sec(name, self.clock.now())
        return secs

    async def purge(self, *, state: RowState | None = None, ids: list[str] | None = None) -> int:
        """``outbox_admin.purge`` on the writer, counted in ``dropped:operator``."""
        n = await self.db.write(lambda conn: outbox_admin.purge(conn, state=state, ids=ids))
        if n:
            self.state.counters["dropped:operator"] += n
        return n

    async def maintain(self, *, force: bool = False) -> dict[str, int]:
        """Enforce the queue bounds and prune delivered rows; at most once a minute unless ``force``.

        Returns what was removed by reason (``age``, ``rows``, ``bytes``, ``pruned``), also added to
        ``state.counters`` as ``dropped:<reason>`` and ``pruned``.
        """
        now = self.clock.now()
        if not force and now - self._maintained_at < MAINTAIN_EVERY_S:
            return {}
        self._maintained_at = now
        q, days = self.settings.queue, 86400.0
        max_age_s = q.max_age_days * days
        fp = await self.db.read(outbox_admin.footprint)
        removed: dict[str, int] = {}
        if outbox_admin.over_bounds(
            fp, now=now, max_rows=q.max_rows, max_bytes=q.max_bytes, max_age_s=max_age_s
        ):
            dropped = await self.db.write(
                lambda conn: outbox_admin.enforce_bounds(
                    conn, now=now, max_rows=q.max_rows, max_bytes=q.max_bytes, max_age_s=max_age_s
                )
            )
            for reason, n in dropped.items():
                self.state.counters[f"dropped:{reason}"] += n
                removed[reason] = n
                log.warning("outbox bound %s: evicted %d rows", reason, n)
        before = now - self.settings.retention.delivered_days * days
        pruned = await self.db.write(lambda conn: outbox_admin.prune_delivered(conn, before=before))
        if pruned:
            self.state.counters["pruned"] += pruned
            removed["pruned"] = pruned
        return removed

    # -- the drain -----------------------------------------------------------------------------------

    def mode(self) -> str:
        """The mode the next drain starts in: ``replay`` or ``batch``."""
        mode = self.settings.sync.mode
        if mode == "auto":
            return "replay" if self.batch_unsupported else "batch"
        return mode

    async def drain(self, *, force: bool = False) -> DrainReport:
        """Send what is due; see the module docstring for the rules. Never raises for upstream trouble;
        a storage failure (``StorageUnavailable``) propagates after the outcomes known so far are saved."""
        async with self._lock:
            if self._first_drain and not force and self.settings.sync.start_jitter_s > 0:
                await self.sleep(self.rng.uniform(0.0, self.settings.sync.start_jitter_s))
            self._first_drain = False
            report = DrainReport(mode=self.mode(), started_at=self.clock.now())
            report.dropped = await self.maintain(force=force)
            if self.client is None:
                return self._finish(report, "not_configured")
            if self.client.agent_id is None:
                configured = self.settings.agent_id
                self.client.agent_id = await self.db.write(lambda c: meta.ensure_agent_id(c, configured))
            paused_until = self.state.next_attempt_at
            if not force and paused_until is not None and self.clock.now() < paused_until:
                return self._finish(report, "backoff")
            self.state.next_attempt_at = None
            run = Run(self.db, self.state, self.settings.sync, self.clock, self.rng, self.pace, report, force)
            try:
                while run.stop is None:
                    sent = await (self._batch_wave(run) if report.mode == "batch" else self._replay_wave(run))
                    await run.flush()
                    if not sent:
                        break
            finally:
                await run.flush()
            return self._finish(report, run.stop or "done")

    def _finish(self, report: DrainReport, why: str) -> DrainReport:
        report.stopped_because = why
        report.duration_s = max(0.0, self.clock.now() - report.started_at)
        report.paused_secs = sorted(self.state.paused_secs)
        report.paused_until = self.state.next_attempt_at
        self.state.last_drain = report.as_dict()
        return report

    def in_flight(self) -> int:
        """Concurrent calls for the next wave: ``sync.max_in_flight``, or one while the upstream looks
        down (``Pace.failing``), so a drain that finds it still down costs a single call."""
        return 1 if self.pace.failing else self.settings.sync.max_in_flight

    async def _ready(self, run: Run, limit: int) -> list[OutboxRow]:
        now, paused, held = self.clock.now(), frozenset(self.state.paused_secs), frozenset(run.held)
        return await self.db.read(
            lambda conn: ready_rows(
                conn,
                now=now,
                limit=limit,
                ignore_timers=run.force,
                paused_secs=paused,
                held=held,
            )
        )

    async def _replay_wave(self, run: Run, rows: list[OutboxRow] | None = None) -> bool:
        """Replay one window of ready rows as per-profile chains; False when nothing was ready."""
        if rows is None:
            window = min(REPLAY_WINDOW_MAX, max(100, self.settings.sync.max_in_flight * 50))
            rows = await self._ready(run, window)
        if not rows:
            return False
        queue = chains_of(rows)
        queue.reverse()  # pop() from the end = oldest chain first

        async def worker() -> None:
            while queue and run.stop is None:
                for row in queue.pop():
                    if run.stop is not None or row.sec in self.state.paused_secs:
                        break
                    row = run.mapped(row)
                    await self.pace.take()
                    if run.stop is not None:
                        break
                    result = await self.client.replay(row)  # type: ignore[union-attr]
                    run.report.calls += 1
                    outcome = run.record(row, result.status, result.error, result.retry_after, result.body)
                    if outcome in ("retry", "auth"):
                        break  # the rest of this profile waits behind it

        # A TaskGroup, not gather: if one worker fails, the others are cancelled instead of running on
        # after the drain returned (and released its lock).
        async with asyncio.TaskGroup() as group:
            for _ in range(min(self.in_flight(), len(queue))):
                group.create_task(worker())
        return True

    async def _batch_wave(self, run: Run) -> bool:
        """Send one window of ready rows as rounds of batch calls; False when nothing was ready.

        Round r carries the next row of every profile whose previous row was answered for good
        (delivered or dead) in round r−1: a batch never holds two rows of one profile, since its items
        may fail independently, and a long backlog of one profile still costs one read per window.
        """
        sync = self.settings.sync
        rows = await self._ready(run, sync.batch_max_items * sync.max_in_flight)
        if not rows:
            return False
        chains = chains_of(rows)
        while chains and run.stop is None and run.report.mode == "batch":
            chains = [c for c in chains if c[0].sec not in self.state.paused_secs]
            if not chains:
                break
            outcomes = await self._batch_round(run, [c[0] for c in chains])
            await run.flush()
            for chain in chains:
                if outcomes.get(chain[0].seq) in ("delivered", "dead"):
                    chain.popleft()
            chains = [c for c in chains if c and outcomes.get(c[0].seq) is None]
        return True

    async def _batch_round(self, run: Run, heads: list[OutboxRow]) -> dict[int, Outcome]:
        """Send ``heads`` (at most one row per profile) as batches, rows too large for a batch as
        replays; returns the outcome of every row that was sent."""
        sync, client = self.settings.sync, self.client
        assert client is not None
        plan = plan_batches(
            heads, bearer=client.bearer, max_items=sync.batch_max_items, max_bytes=sync.batch_max_bytes
        )
        calls: list[tuple[str | None, list[OutboxRow], bool]] = [(b, rows, True) for b, rows in plan.batches]
        calls += [(None, [row], False) for row in plan.single]
        calls.reverse()  # pop() from the end = oldest first
        outcomes: dict[int, Outcome] = {}

        async def worker() -> None:
            while calls and run.stop is None and run.report.mode == "batch":
                bearer, rows, is_batch = calls.pop()
                await self.pace.take()
                if run.stop is not None or run.report.mode != "batch":
                    break
                run.report.calls += 1
                if not is_batch:
                    result = await client.replay(run.mapped(rows[0]))
                    outcomes[rows[0].seq] = run.record(
                        rows[0], result.status, result.error, result.retry_after, result.body
                    )
                    continue
                answer = await client.batch([run.mapped(row) for row in rows], bearer=bearer)
                if answer.call.status in (404, 405) and sync.mode == "auto":
                    log.info(
                        "the upstream has no batch route (%s): replaying from now on", answer.call.status
                    )
                    self.batch_unsupported = True
                    run.report.mode, run.report.fell_back = "replay", True
                    break
                outcomes.update(run.record_batch(rows, answer))

        async with asyncio.TaskGroup() as group:
            for _ in range(min(self.in_flight(), len(calls))):
                group.create_task(worker())
        return outcomes


def chains_of(rows: list[OutboxRow]) -> list[deque[OutboxRow]]:
    """``rows`` (in seq order) as one chain per profile, ordered by each chain's oldest row; a row
    without a profile is a chain of its own."""
    chains: dict[object, deque[OutboxRow]] = {}
    for row in rows:
        chains.setdefault(row.uid if row.uid is not None else ("", row.seq), deque()).append(row)
    return list(chains.values())


__all__ = ["DrainReport", "Pusher"]
