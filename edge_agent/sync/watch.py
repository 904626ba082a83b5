"""Watch the bundle file (``bundle.watch``): reload ``bundle.path`` when it changes.

Polling, not inotify: it works the same on every platform and on network or USB file systems. Each check
stats the file (mtime, size, inode). A change is loaded only once the file looked the same on two checks
in a row, ``bundle.watch_interval_s`` apart, so a file still being copied is left alone; the bytes are
stat-ed again after reading and a file that moved meanwhile waits for the next check. A stable file that
does not parse logs every problem, keeps the active bundle, and is not reported again until it changes.

Imports storage only; the agent passes ``on_bundle`` (the same callback the pull uses).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Literal

from edge_agent.clock import Clock
from edge_agent.errors import BundleInvalid
from edge_agent.storage.bundles import parse_bundle
from edge_agent.sync.pull import OnBundle
from edge_agent.sync.state import SyncState

log = logging.getLogger(__name__)

Signature = tuple[int, int, int]  # (mtime_ns, size, inode); atomic replacement changes the inode
WatchOutcome = Literal["loaded", "rejected", "missing"]


def file_signature(path: Path) -> Signature | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _read_stable(path: Path, before: Signature) -> bytes | None:
    """The file's bytes, or None when it changed while being read (or vanished)."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    return raw if file_signature(path) == before else None


class BundleFileWatch:
    """Polls one bundle file; ``check()`` is the job body."""

    def __init__(self, path: Path, on_bundle: OnBundle, state: SyncState, clock: Clock) -> None:
        self.path = path
        self.source = f"file:{path}"  # the source the start-up load records, so both name it alike
        self.on_bundle = on_bundle
        self.state = state
        self.clock = clock
        self._seen: Signature | None = None  # signature at the previous check
        self._handled: Signature | None = None  # signature of the content last loaded or refused

    async def prime(self) -> None:
        """Take the file as it is now as handled: the agent loaded it at start."""
        self._seen = self._handled = await asyncio.to_thread(file_signature, self.path)

    async def check(self) -> WatchOutcome | None:
        """One poll. Returns what happened, or None when there is nothing (yet) to do."""
        sig = await asyncio.to_thread(file_signature, self.path)
        stable = sig == self._seen
        self._seen = sig
        if not stable or sig == self._handled:
            return None
        self._handled = sig
        now = self.clock.now()
        if sig is None:
            log.warning("bundle file %s is gone; keeping the active bundle", self.path)
            self.state.last_watch = {"at": now, "outcome": "missing", "version": None, "errors": []}
            return "missing"
        raw = await asyncio.to_thread(_read_stable, self.path, sig)
        if raw is None:  # changed under us: not stable after all
            self._handled = None
            self._seen = None
            return None
        try:
            model, doc = parse_bundle(raw)
            await self.on_bundle(doc, self.source, None)
        except BundleInvalid as exc:
            log.error("bundle file %s rejected, keeping the active bundle:", self.path)
            for line in exc.errors:
                log.error("  %s", line)
            self.state.last_watch = {"at": now, "outcome": "rejected", "version": None, "errors": exc.errors}
            return "rejected"
        log.info("bundle file %s changed: bundle %s loaded", self.path, model.version)
        self.state.last_watch = {"at": now, "outcome": "loaded", "version": model.version, "errors": []}
        return "loaded"
