"""The sync scheduler and its job bodies.

=================  =========================================  =============================================
job                every                                      body
=================  =========================================  =============================================
``push``           ``sync.push_interval_s``                   ``push()``: drain the outbox (the push side;
                                                              offline it only keeps the queue bounded)
``pull``           a short tick (≤ 1 s)                       ``pull_tick()``: pull when due (``pull_delay``);
                                                              while the upstream is down, probe it
``bundle-file``    ``bundle.watch_interval_s``                ``watch_file()`` (only with ``bundle.watch``)
``bundle-stored``  ``bundle.watch_interval_s``                ``check_stored()``: adopt a bundle another
                                                              process stored (``edge-agent bundle load``,
                                                              ``edge-agent sync``)
=================  =========================================  =============================================

APScheduler 3.x only nudges: each scheduled run starts the job's body as a task of its own and returns
at once, or does nothing while the last body still runs, so a drain slower than its interval never piles
up (nor fills the log with APScheduler's "maximum number of running instances reached"). The bodies are
plain async methods that tests call directly. Without ``upstream.url`` nothing is sent and
nothing pulled or probed: the agent runs offline for ever and ``/status`` says so. The first pull waits a
random 0–``sync.start_jitter_s`` (the Pusher does the same for the first drain), so a fleet restarting
together spreads out.

**Coming back.** While the upstream looks down (the last pull or probe failed, or the push has failures),
a cheap probe (``HEAD`` on the bundle route) runs every ``sync.pull_interval_s`` ±20 %, whatever the
pull's stretched interval. When a probe or a pull reaches the upstream after it was unreachable, the
outbox is drained at once with ``force`` (backoff was only waiting for this) and the pull is made due.

**Shutdown.** ``scheduler.shutdown(wait=False)``, one loop tick for APScheduler to apply it, then running
job bodies are cancelled and awaited, all before the upstream session and storage close. A cancelled
drain leaves its rows pending (they count as sent only once the upstream answered, and the upstream
deduplicates by ``Idempotency-Key``), so nothing half-sent is recorded as delivered.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import aiohttp
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from edge_agent.clock import Clock
from edge_agent.config.settings import Settings
from edge_agent.storage.database import Database
from edge_agent.sync.client import UpstreamClient
from edge_agent.sync.pacing import Sleep
from edge_agent.sync.pull import OnBundle, Puller
from edge_agent.sync.pull_model import PullReport, pull_delay
from edge_agent.sync.push import Pusher
from edge_agent.sync.state import SyncState
from edge_agent.sync.watch import BundleFileWatch, WatchOutcome

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0
"""How long shutdown waits for cancelled job bodies to unwind."""


class UpstreamNotConfigured(Exception):
    """A sync was asked for, but ``upstream.url`` is not set."""


@dataclass(frozen=True, slots=True)
class BundleHooks:
    """What the agent lends the sync jobs, so ``sync`` never imports ``agent``."""

    install: OnBundle
    """``install(doc, source, etag)``: compile, store (current → previous) and swap; raise BundleInvalid."""
    reload_stored: Callable[[], Awaitable[object]]
    """Adopt the stored current bundle if another process changed it; a cheap no-op otherwise."""


def pull_tick_s(settings: Settings) -> float:
    """The pull job's tick: fine enough for the ±20 % jitter to matter, at most once a second."""
    return min(1.0, max(0.05, settings.sync.pull_interval_s / 20))


class SyncJobs:
    """Owns the scheduler and the sync workers. ``bind(session)`` once the upstream session exists,
    ``start()`` / ``stop()`` from the app's cleanup context."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        state: SyncState,
        hooks: BundleHooks,
        *,
        rng: random.Random | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.db, self.settings, self.clock, self.state, self.hooks = db, settings, clock, state, hooks
        self.rng = rng or random.Random()
        self.sleep = sleep  # the drain's sleeps (pacing, start jitter); None = asyncio.sleep
        self.puller: Puller | None = None
        self.drainer: Pusher | None = None
        self.watch: BundleFileWatch | None = None
        if settings.bundle.watch and settings.bundle.path is not None:
            self.watch = BundleFileWatch(settings.bundle.path, hooks.install, state, clock)
        self._bound = False
        self._scheduler: AsyncIOScheduler | None = None
        # Each job's last body: a job starts one only once its last is done, so these hold every body
        # in flight (what shutdown cancels).
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._upstream_down = False  # the last pull or probe could not reach the upstream
        self._next_probe_at: float | None = None

    @property
    def configured(self) -> bool:
        return self.settings.upstream.url is not None

    def bind(self, session: aiohttp.ClientSession | None) -> None:
        """Create the workers: pull and push on the upstream session, or (None) offline maintenance."""
        self._bound = True
        # One client for push, pull and probe. Without an upstream the Pusher only keeps the queue
        # within its bounds (offline maintenance).
        client = UpstreamClient(session, self.settings, clock=self.clock) if session is not None else None
        if client is not None:
            self.puller = Puller(
                self.db, client, self.settings, self.clock, self.state, self.hooks.install, rng=self.rng
            )
        self.drainer = Pusher(self.db, client, self.settings, self.clock, self.state, sleep=self.sleep)
        self.state.configured = client is not None
        if self.puller is not None:
            self.state.next_pull_at = self.puller.next_due_at

    # -- job bodies ----------------------------------------------------------------------------------

    async def push(self, *, force: bool = False) -> dict[str, Any] | None:
        """Drain the outbox once; None before ``bind``. Drains never overlap (the Pusher's lock)."""
        if self.drainer is None:
            return None
        try:
            report = await self.drainer.drain(force=force)
        except Exception as exc:
            log.exception("outbox drain failed")
            self.state.count_attempt("push", "error")
            return {"error": f"{type(exc).__name__}: {exc}"}
        self.state.count_attempt("push", report.outcome)
        return report.as_dict()

    async def pull(self, *, force: bool = False, comeback: bool = True) -> PullReport | None:
        """Pull when due (or now with ``force``); None when not due or without an upstream.

        With ``comeback``, reaching the upstream after it was unreachable drains the outbox at once.
        """
        if self.puller is None:
            return None
        was_down = self._looks_down()
        report = await self.puller.pull(force=force)
        if report is None:
            return None
        self._upstream_down = not report.reached
        if report.reached:
            self._next_probe_at = None
            if comeback and was_down:
                await self._came_back("pull")
        return report

    async def pull_tick(self) -> PullReport | None:
        """The pull job: pull when due, else probe while the upstream looks down."""
        report = await self.pull()
        if report is None and self.puller is not None:
            await self._maybe_probe()
        return report

    async def watch_file(self) -> WatchOutcome | None:
        return await self.watch.check() if self.watch is not None else None

    async def check_stored(self) -> object:
        return await self.hooks.reload_stored()

    async def sync_now(self) -> dict[str, Any]:
        """Push, then pull, now: ignoring backoff, ``Retry-After`` and the pull schedule, but not the
        401/403 pause of a sec (an operator lifts that). Raises UpstreamNotConfigured."""
        if self.puller is None:
            raise UpstreamNotConfigured("no upstream configured (upstream.url): running offline")
        drained = await self.push(force=True)
        pulled = await self.pull(force=True, comeback=False)
        assert pulled is not None  # forced pulls always run
        return {
            "push": drained,
            "pull": pulled.as_dict(),
        }

    # -- coming back ---------------------------------------------------------------------------------

    def _looks_down(self) -> bool:
        return self._upstream_down or (self.state.consecutive_failures > 0 and self.state.state == "offline")

    async def _maybe_probe(self) -> None:
        assert self.puller is not None
        now = self.clock.now()
        if not (self._upstream_down or self.state.consecutive_failures > 0):
            self._next_probe_at = None
            return
        if self._next_probe_at is None:  # just went down: first probe one interval from now
            self._next_probe_at = now + pull_delay(self.settings.sync.pull_interval_s, 0, self.rng)
            return
        if now < self._next_probe_at:
            return
        self._next_probe_at = now + pull_delay(self.settings.sync.pull_interval_s, 0, self.rng)
        was_down = self._looks_down()
        if not await self.puller.probe():
            self._upstream_down = True
            return
        self._upstream_down = False
        if was_down:
            self.puller.make_due()
            await self._came_back("probe")

    async def _came_back(self, how: str) -> None:
        log.info("upstream reachable again (%s): draining the outbox now", how)
        self.state.counters["upstream_back"] += 1
        await self.push(force=True)

    # -- scheduling ----------------------------------------------------------------------------------

    def _nudge(self, name: str, body: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        """The scheduled callable: starts ``body`` as a task of its own and returns at once, or does
        nothing while the last one still runs. So APScheduler never finds a job still running (under a
        slow upstream it would log "skipped: maximum number of running instances reached" every tick)
        and a drain or a pull that outlasts its interval simply delays the next one."""

        async def run() -> None:
            task = self._tasks.get(name)
            if task is not None and not task.done():
                return
            task = asyncio.create_task(self._guarded(name, body), name=f"sync-job-{name}")
            self._tasks[name] = task  # at once: a shutdown before its first step still cancels it

        run.__name__ = run.__qualname__ = f"sync_job_{name}"
        return run

    def in_flight(self) -> list[asyncio.Task[None]]:
        """The job bodies still running."""
        return [task for task in self._tasks.values() if not task.done()]

    async def _guarded(self, name: str, body: Callable[[], Awaitable[object]]) -> None:
        """A job body run by :meth:`_nudge`: logs failures once and ends quietly when cancelled at
        shutdown."""
        try:
            await body()
        except asyncio.CancelledError:
            log.debug("sync job %s cancelled at shutdown", name)
        except Exception:
            log.exception("sync job %s failed", name)

    async def start(self) -> None:
        """Start the scheduler on the running loop (binding offline workers if no session was bound)."""
        if not self._bound:
            self.bind(None)
        if self.watch is not None:
            await self.watch.prime()
        scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
        settings = self.settings
        if self.drainer is not None:
            every_push = IntervalTrigger(seconds=settings.sync.push_interval_s, timezone=UTC)
            scheduler.add_job(self._nudge("push", self.push), every_push, id="push")
        if self.puller is not None:
            tick = IntervalTrigger(seconds=pull_tick_s(settings), timezone=UTC)
            scheduler.add_job(self._nudge("pull", self.pull_tick), tick, id="pull")
        every = IntervalTrigger(seconds=settings.bundle.watch_interval_s, timezone=UTC)
        if self.watch is not None:
            scheduler.add_job(self._nudge("bundle-file", self.watch_file), every, id="bundle-file")
        scheduler.add_job(self._nudge("bundle-stored", self.check_stored), every, id="bundle-stored")
        scheduler.start()
        self._scheduler = scheduler

    def pause(self) -> None:
        """Stop scheduling runs (the bodies still work when called); ``resume()`` undoes it."""
        if self._scheduler is not None:
            self._scheduler.pause()

    def resume(self) -> None:
        if self._scheduler is not None:
            self._scheduler.resume()

    async def stop(self) -> None:
        """Stop scheduling, then cancel and await running bodies. Safe to call twice."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # APScheduler 3 applies the shutdown on the next loop tick
        pending = self.in_flight()
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=STOP_TIMEOUT_S)
