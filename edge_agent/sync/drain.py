"""One drain's bookkeeping: what each answer does to its row, to the drain and to the sync state.

:class:`Run` turns answers into outbox marks (written by :meth:`Run.flush` in writes of at most
``FLUSH_MAX_MARKS`` rows, so a request's write never waits behind thousands of marks),
counts them in the :class:`DrainReport` and ``SyncState.counters``, learns identity mappings, and decides
when the drain must stop: a ``Retry-After`` (pause until then, plus jitter) or ``TRIP_AFTER`` failed calls
in a row, counted across drains (pause for a full-jitter backoff that grows with every drain stopped
this way until a call succeeds). Every call's answer also steers the agent's AIMD rate
(``pacing.Pace``). It is given what it changes (the sync state, the pace) and never sees the
:class:`~edge_agent.sync.push.Pusher`.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from edge_agent.clock import Clock
from edge_agent.config.settings import SyncSettings
from edge_agent.storage.database import Database
from edge_agent.storage.outbox import Mark, OutboxRow, apply_marks
from edge_agent.sync.client import BatchResult, Outcome, answered_uid, classify, reason, sent_uid
from edge_agent.sync.pacing import TRIP_AFTER, Pace, backoff_delay, retry_after_delay
from edge_agent.sync.state import SyncState

log = logging.getLogger(__name__)


FLUSH_MAX_MARKS = 256
"""Most outbox marks one write job applies (≈ 3 ms of the writer): 8,000 in one job held it for 100 ms,
and every request's commit waited behind it."""

PushOutcome = Literal["ok", "failed", "skipped"]  # a drain run, as ``attempt:push:<outcome>`` counts it


@dataclass(slots=True)
class DrainReport:
    """What one drain did. ``mode``: the mode used last (``replay``/``batch``); ``fell_back``: auto mode
    found no batch route; ``held``: rows kept pending by an auth pause; ``dropped``: maintenance;
    ``stopped_because``: ``done`` (nothing ready), ``backoff`` (a pause not yet over), ``retry_after``,
    ``failures`` (``TRIP_AFTER`` failed calls), ``not_configured`` (no upstream)."""

    mode: str
    started_at: float
    attempted: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    held: int = 0
    calls: int = 0
    fell_back: bool = False
    paused_secs: list[str] = field(default_factory=list)
    paused_until: float | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    stopped_because: str = "done"
    duration_s: float = 0.0

    @property
    def outcome(self) -> PushOutcome:
        """The run as ``attempt:push:<outcome>`` counts it: ``skipped`` (no call), ``failed`` (calls, but
        the upstream took no row, for good or ill: every row sent is still pending), else ``ok``."""
        if not self.calls:
            return "skipped"
        return "ok" if self.delivered or self.dead else "failed"

    def as_dict(self) -> dict[str, Any]:
        """camelCase, for ``/status`` (``SyncState.last_drain``)."""
        return {
            "mode": self.mode, "startedAt": self.started_at, "attempted": self.attempted,
            "delivered": self.delivered, "retried": self.retried, "dead": self.dead, "held": self.held,
            "calls": self.calls, "fellBack": self.fell_back, "pausedSecs": list(self.paused_secs),
            "pausedUntil": self.paused_until, "dropped": dict(self.dropped),
            "stoppedBecause": self.stopped_because, "durationSeconds": self.duration_s,
        }  # fmt: skip


class Run:
    """The state of one drain in progress. All methods run on the event loop except :meth:`flush`'s write."""

    def __init__(
        self,
        db: Database,
        state: SyncState,
        sync: SyncSettings,
        clock: Clock,
        rng: random.Random,
        pace: Pace,
        report: DrainReport,
        force: bool,
    ) -> None:
        self.db, self.state, self.sync, self.clock, self.rng, self.pace = db, state, sync, clock, rng, pace
        self.report = report
        self.force = force
        self.held: set[int] = set()  # every seq attempted in this drain: never twice, and its profile waits
        self.marks: list[Mark] = []
        self.central: dict[str, str] = {}  # local uid → central uid learnt in this drain
        self._unsaved: dict[str, str] = {}
        self.stop: str | None = None

    def mapped(self, row: OutboxRow) -> OutboxRow:
        """``row`` with the central uid learnt earlier in this drain (not yet in its profile row)."""
        central = self.central.get(row.uid) if row.uid is not None else None
        return dataclasses.replace(row, central_uid=central) if central else row

    # -- answers -------------------------------------------------------------------------------------

    def record(
        self,
        row: OutboxRow,
        status: int | None,
        error: str | None,
        retry_after: float | None = None,
        body: dict[str, Any] | None = None,
        *,
        answered: str | None = None,
        call: bool = True,
        why: str | None = None,
    ) -> Outcome:
        """Apply one answer to ``row``. ``call`` False = a batch item: the call-level effects (sync state,
        failure streak, drain pause) are applied once per batch call by :meth:`record_batch`. ``why`` is
        the metric reason when the status alone does not say it."""
        now, rep = self.clock.now(), self.report
        outcome = classify(status)
        why = why or reason(status)
        self.held.add(row.seq)
        rep.attempted += 1
        if outcome == "delivered":
            self.marks.append(Mark(row.seq, "delivered", status))
            rep.delivered += 1
            self.state.count_row("delivered", why)
            if call:
                self._succeeded(now, status)
            uid = answered if answered is not None else answered_uid(body) if row.method == "POST" else None
            if uid and row.uid is not None and uid != sent_uid(row):
                log.info("profile %s is %s upstream", row.uid, uid)
                self.central[row.uid] = self._unsaved[row.uid] = uid
        elif outcome == "dead":
            self.marks.append(Mark(row.seq, "dead", status, error))
            rep.dead += 1
            self.state.count_row("dead", why)
            log.warning("outbox row %s (seq %d) is dead: %s", row.id, row.seq, error)
            if call:
                self.pace.reached()  # it answered, deliberately
                self.pace.answered(status)
        elif outcome == "auth":
            self._hold(row, status, error, now)
        else:
            self._retry(row, status, error, now, why)
            if call:
                self._failed(now, status, error, retry_after)
        return outcome

    def record_batch(self, rows: list[OutboxRow], result: BatchResult) -> dict[int, Outcome]:
        """Apply a batch answer: per item when the call answered 2xx, else the call's fate to every row.

        A batch-level 4xx other than 401/403 (a bad envelope, 413) says nothing about the rows: they are
        retried, never dead-lettered. Returns each row's outcome by ``seq``.
        """
        call, now = result.call, self.clock.now()
        outcomes: dict[int, Outcome] = {}
        if call.status is None or not 200 <= call.status < 300 or call.error is not None:
            outcome = classify(call.status)
            why = "batch_refused" if outcome == "dead" else reason(call.status)
            for row in rows:
                self.held.add(row.seq)
                self.report.attempted += 1
                if outcome == "auth":
                    self._hold(row, call.status, call.error, now)
                    outcomes[row.seq] = "auth"
                else:
                    self._retry(row, call.status, call.error, now, why)
                    outcomes[row.seq] = "retry"
            if outcome != "auth":
                self._failed(now, call.status, call.error, call.retry_after)
            return outcomes
        self._succeeded(now, call.status)
        for row in rows:
            item = result.items.get(row.id)
            if item is None:
                outcomes[row.seq] = self.record(
                    row, None, "the batch answer has no item for it", call=False, why="no_item"
                )
            else:
                error = None if item.outcome == "delivered" else f"{item.status} (batch item)"
                outcomes[row.seq] = self.record(row, item.status, error, answered=item.uid, call=False)
        return outcomes

    def _succeeded(self, now: float, status: int | None) -> None:
        self.pace.reached()
        self.pace.answered(status)
        self.state.success(now)

    def _hold(self, row: OutboxRow, status: int | None, error: str | None, now: float) -> None:
        self.marks.append(Mark(row.seq, "held", status, error))
        self.report.held += 1
        if row.sec not in self.state.paused_secs:
            log.error("sec %s paused: the upstream answered %s; fix its key, then resume", row.sec, status)
            self.state.pause_sec(row.sec, f"the upstream answered {status}", now)

    def _retry(self, row: OutboxRow, status: int | None, error: str | None, now: float, why: str) -> None:
        sync = self.sync
        delay = backoff_delay(row.attempts + 1, sync.backoff_base_s, sync.backoff_max_s, self.rng)
        self.marks.append(Mark(row.seq, "retry", status, error, now + delay))
        self.report.retried += 1
        self.state.count_row("retried", why)

    def _failed(self, now: float, status: int | None, error: str | None, retry_after: float | None) -> None:
        streak = self.pace.failed()
        self.pace.answered(status)
        sync = self.sync
        if retry_after is not None:
            self._pause(now + retry_after_delay(retry_after, self.rng), "retry_after")
        elif streak >= TRIP_AFTER:
            delay = backoff_delay(self.pace.tripped(), sync.backoff_base_s, sync.backoff_max_s, self.rng)
            self._pause(now + delay, "failures")
        self.state.failure(now, error or f"status {status}", reachable=status is not None)

    def _pause(self, until: float, why: str) -> None:
        current = self.state.next_attempt_at
        self.state.next_attempt_at = until if current is None else max(current, until)
        if self.stop is None:
            self.stop = why

    # -- storage -------------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write the outcomes collected so far (no-op when there are none), ``FLUSH_MAX_MARKS`` rows per
        write, each awaited before the next is queued: the writer commits the requests' writes that
        arrived meanwhile between two of them. The identity mappings go with the first write, never
        after the mark of the row whose answer taught them."""
        if not self.marks and not self._unsaved:
            return
        marks, self.marks = self.marks, []
        central, self._unsaved = self._unsaved, {}
        now = self.clock.now()
        for start in range(0, max(1, len(marks)), FLUSH_MAX_MARKS):
            chunk, mapped = marks[start : start + FLUSH_MAX_MARKS], central if start == 0 else None
            await self.db.write(partial(apply_marks, marks=chunk, now=now, central_uids=mapped))
