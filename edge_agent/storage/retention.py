"""Forgetting what decisioning no longer needs: history, scores, engagement hits and the campaigns /visit
and /event triggers fired, older than ``retention.history_days``. Outbox rows have their own rules
(``outbox_admin``: bounds and delivered retention, applied by the drain); /choose decisions and sticky
assignments are kept, since per-user caps and stickiness have no window.

:class:`RetentionJob` is the storage maintenance the daemon runs beside (not inside) sync: one prune
every ``RETENTION_INTERVAL_S``, on the writer like any write, started and stopped by the agent's
``maintenance_ctx`` while the database is open. It needs no upstream and no scheduler.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable

from edge_agent.clock import Clock
from edge_agent.storage import decisions, scores
from edge_agent.storage.database import Database

log = logging.getLogger(__name__)

DAY = 86400.0
RETENTION_INTERVAL_S = 3600.0
"""Pruning is cheap with the (uid, at) and (type, at) indexes: hourly keeps each run small."""


def prune(conn: sqlite3.Connection, now: float, history_days: float) -> dict[str, int]:
    """Delete rows older than ``history_days``; returns how many per table (scores: not counted)."""
    before = now - history_days * DAY
    removed = {
        "history": conn.execute("DELETE FROM history WHERE at < ?", (before,)).rowcount,
        "engagements": conn.execute("DELETE FROM engagements WHERE received_at < ?", (before,)).rowcount,
        "triggers": decisions.prune_triggers(conn, before),
    }
    scores.prune(conn, before)
    return removed


class RetentionJob:
    """Prunes every ``interval_s`` (the first run one interval after :meth:`start`); :meth:`run` is the
    body, for tests and callers that want a prune now."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        history_days: float,
        *,
        interval_s: float = RETENTION_INTERVAL_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.db, self.clock, self.history_days = db, clock, history_days
        self.interval_s = interval_s
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None

    async def run(self) -> dict[str, int]:
        """Prune once; returns what was removed per table."""
        now, days = self.clock.now(), self.history_days
        removed = await self.db.write(lambda conn: prune(conn, now, days))
        if any(removed.values()):
            log.info("retention: removed %s", removed)
        return removed

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="edge-agent-retention")

    async def stop(self) -> None:
        """Cancel the loop and wait for it (a prune in flight is one transaction: all or nothing)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            await self._sleep(self.interval_s)
            try:
                await self.run()
            except Exception:  # storage trouble: the storage health record reports it; try next time
                log.exception("retention failed")
