"""The SQLite database: one writer thread with group commit, reads on a small thread pool.

Writes are functions ``fn(conn) -> T`` queued to the writer thread. The thread takes every write that is
waiting (up to ``group_commit_max``), runs each inside its own SAVEPOINT of one ``BEGIN IMMEDIATE``
transaction and commits once, so concurrent requests share one fsync. A write that raises is rolled back
alone; the others still commit. A future resolves only after COMMIT returned, which is what lets a route
answer 200 only for data that is on disk.

Nothing here runs SQLite on the event loop: ``write``/``read`` hop to threads and back.

:attr:`Database.health` says whether writes commit (``storage/health.py``). A database that reports
corruption, at open (``quick_check``, "file is not a database") or later on a write or read, is moved
aside and replaced by a fresh one (``storage/recovery.py``): at open directly, at runtime through
:meth:`Database.recover`, which the owner runs when ``on_corrupt`` tells it to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from edge_agent.errors import StorageUnavailable
from edge_agent.storage import recovery, salvage
from edge_agent.storage.files import prepare_database_files
from edge_agent.storage.health import Health, is_corrupt

log = logging.getLogger(__name__)

T = TypeVar("T")
WriteFn = Callable[[sqlite3.Connection], T]

# SQLite messages that mean "the storage cannot take writes now" rather than "a bug".
_UNAVAILABLE_MARKERS = (
    "database or disk is full",
    "database is locked",
    "readonly database",
    "disk i/o error",
    "unable to open database",
    "database is busy",
    "no space left",
)


def is_unavailable(exc: BaseException) -> bool:
    if is_corrupt(exc):
        return True
    if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
        text = str(exc).lower()
        return any(marker in text for marker in _UNAVAILABLE_MARKERS)
    return isinstance(exc, OSError)


DEFAULT_BUSY_TIMEOUT_MS = 1000
# While degraded and no write comes, the writer tries a one-row write this often, so the health (and
# /readyz) turns ok by itself once the disk has room or the lock is gone.
HEALTH_PROBE_INTERVAL_S = 5.0
#: The WAL's bound. SQLite cuts the WAL file back to it when the WAL restarts (``journal_size_limit``), and
#: the checkpoint thread forces a restart once the WAL holds this much (see ``checkpoint_once``).
WAL_LIMIT_BYTES = 16 * 1024 * 1024
#: The writer's backstop (a RESTART unasked at twice the limit) stats the WAL file before one group in
#: this many, not before every group: a syscall per group on the hot path for a check that matters only
#: when the checkpoint thread falls behind. Past twice the limit the WAL grows at most this many groups more.
WAL_STAT_EVERY_GROUPS = 16
#: How long a RESTART/TRUNCATE checkpoint may wait for the writer and readers (and so hold up the writer).
_CHECKPOINT_BUSY_MS = 200


def _probe_write(conn: sqlite3.Connection) -> None:
    """The smallest write that must commit like any other: one meta row."""
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('storage_probe_at', ?)", (str(time.time()),)
    )


class _Corrupt(Exception):
    """The file at open is damaged (the message is SQLite's or quick_check's first line)."""


def connect(
    path: Path, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS, readonly: bool = False
) -> sqlite3.Connection:
    """A connection with explicit transaction control (we issue BEGIN/COMMIT ourselves)."""
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class _Job:
    """One queued write. Callers on an event loop get an asyncio future settled on that loop (one
    wake-up per group, not per write); plain threads get a ``concurrent.futures.Future``."""

    __slots__ = ("fn", "future", "loop")

    def __init__(self, fn: WriteFn[Any], loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.fn = fn
        self.loop = loop
        self.future: Future[Any] | asyncio.Future[Any] = loop.create_future() if loop else Future()


_STOP = object()


class Database:
    """Owns the SQLite file. ``open()`` migrates; ``close()`` drains pending writes first."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "FULL",
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        group_commit_max: int = 256,
        checkpoint_interval_s: float = 1.0,
        health_probe_interval_s: float = HEALTH_PROBE_INTERVAL_S,
        wal_limit_bytes: int = WAL_LIMIT_BYTES,
    ) -> None:
        self.path = Path(path)
        self.health_probe_interval_s = health_probe_interval_s
        self.synchronous = synchronous
        self.busy_timeout_ms = busy_timeout_ms
        self.group_commit_max = group_commit_max
        self.checkpoint_interval_s = checkpoint_interval_s
        self.wal_limit_bytes = wal_limit_bytes
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._checkpointer: threading.Thread | None = None
        self._stopping = threading.Event()
        self._restart_wanted = threading.Event()  # set by the checkpoint thread, run by the writer
        # Held around every checkpoint: the writer's RESTART skips a group rather than wait for a PASSIVE.
        self._checkpointing = threading.Lock()
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="edge-agent-read")
        self._local = threading.local()
        self._read_conns: list[sqlite3.Connection] = []
        self._read_lock = threading.Lock()
        self.commits = 0
        self.grouped_writes = 0
        self.health = Health("ok", None, time.time())
        # Called (from the writer or a reader thread) once per open when corruption is seen; the owner
        # answers by running recover() off the writer thread.
        self.on_corrupt: Callable[[str], None] | None = None
        self._corrupt_seen = False

    # -- lifecycle -----------------------------------------------------------------------------------

    def open(self) -> None:
        """Create the file (owner-only), switch to WAL, check it, run migrations, start the threads.

        A damaged file is moved aside and a fresh one created in its place (logged as one ERROR line and
        recorded in the new file); any other failure marks the health degraded and raises
        StorageUnavailable.
        """
        try:
            try:
                conn = self._open_writer_conn()
            except _Corrupt as exc:
                conn = self._replace_corrupt(str(exc))
        except StorageUnavailable as exc:
            self.health = Health("degraded", str(exc), time.time())
            raise
        self._start(conn)

    def recover(self, reason: str) -> None:
        """Replace a database found corrupt while running: close everything, move it aside, open fresh.

        Writes and reads answer StorageUnavailable (503) meanwhile. Call it off the writer thread.
        """
        self.close()
        self._start(self._replace_corrupt(reason))

    def _open_writer_conn(self) -> sqlite3.Connection:
        from edge_agent.storage.migrations import migrate

        conn: sqlite3.Connection | None = None
        try:
            for line in prepare_database_files(self.path):
                log.warning("storage: tightened permissions of %s", line)
            conn = connect(self.path, busy_timeout_ms=self.busy_timeout_ms)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            # Checkpoints run on their own thread so a commit never pays for one.
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            conn.execute(f"PRAGMA journal_size_limit = {int(self.wal_limit_bytes)}")
            check = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
            if check != "ok":
                raise _Corrupt(f"quick_check: {check}")
            migrate(conn)
        except _Corrupt:
            if conn is not None:
                conn.close()
            raise
        except (sqlite3.Error, OSError) as exc:
            if conn is not None:
                conn.close()
            if is_corrupt(exc):
                raise _Corrupt(str(exc)) from exc
            raise StorageUnavailable(f"cannot open {self.path}: {exc}") from exc
        return conn

    def _replace_corrupt(self, reason: str) -> sqlite3.Connection:
        now = time.time()
        try:
            moved = recovery.move_aside(self.path, now)
        except OSError as exc:
            raise StorageUnavailable(f"{self.path} is corrupt ({reason}) and cannot be moved: {exc}") from exc
        log.error(
            "storage: %s is corrupt (%s); moved it aside to %s and started a fresh database; "
            "recover its queue with `edge-agent queue salvage %s`",
            self.path,
            reason,
            moved,
            moved,
        )
        agent_id, seq = salvage.carried_over(moved)
        conn = self._open_writer_conn()
        conn.execute("BEGIN IMMEDIATE")
        # The same agent id and a seq that goes on: the upstream sees no reset, only the rows it lacks.
        salvage.continue_from(conn, agent_id, seq)
        recovery.record(conn, original=self.path, moved_to=moved, reason=reason, now=now)
        conn.execute("COMMIT")
        return conn

    def _start(self, conn: sqlite3.Connection) -> None:
        self.health = Health("ok", None, time.time())
        self._corrupt_seen = False
        self._stopping.clear()
        self._writer = threading.Thread(
            target=self._write_loop, args=(conn,), name="edge-agent-writer", daemon=True
        )
        self._writer.start()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="edge-agent-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def close(self) -> None:
        if self._writer is None:
            return
        self._queue.put(_STOP)
        self._writer.join()
        self._writer = None
        self._stopping.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
            self._checkpointer = None
        self._readers.shutdown(wait=True)
        with self._read_lock:
            for conn in self._read_conns:
                conn.close()
            self._read_conns.clear()
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="edge-agent-read")

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    # -- writes --------------------------------------------------------------------------------------

    def _set_health(self, ok: bool, reason: str | None = None) -> None:
        """Writer thread: record the outcome of a group (only a change replaces the state)."""
        if ok == self.health.ok and (ok or reason == self.health.reason):
            return
        if ok:
            log.warning("storage: writes commit again (degraded since %.0f)", self.health.since)
            self.health = Health("ok", None, time.time())
            return
        log.warning("storage: degraded: %s", reason)
        since = time.time() if self.health.ok else self.health.since
        self.health = Health("degraded", reason, since)

    def _report_corrupt(self, exc: BaseException) -> None:
        self._set_health(False, f"corrupt: {exc}")
        if self._corrupt_seen:
            return
        self._corrupt_seen = True
        log.error("storage: %s reports corruption: %s", self.path, exc)
        if self.on_corrupt is not None:
            self.on_corrupt(str(exc))

    def _enqueue(self, job: _Job) -> None:
        if self._writer is None:
            raise StorageUnavailable("storage is not open")
        self._queue.put(job)

    def submit(self, fn: WriteFn[T]) -> Future[T]:
        """Queue ``fn`` from a plain thread; the future resolves after its group committed."""
        job = _Job(fn)
        self._enqueue(job)
        future: Future[T] = job.future  # type: ignore[assignment]
        return future

    async def write(self, fn: WriteFn[T]) -> T:
        """Run ``fn(conn)`` in the next group transaction; return once it is committed."""
        job = _Job(fn, asyncio.get_running_loop())
        self._enqueue(job)
        future: asyncio.Future[T] = job.future  # type: ignore[assignment]
        return await future

    def write_sync(self, fn: WriteFn[T]) -> T:
        """The same from a plain thread (CLI, scheduler jobs outside the loop)."""
        return self.submit(fn).result()

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        until_stat = 0  # groups until the backstop looks at the WAL's size again
        try:
            while True:
                try:
                    # Degraded: wait at most one probe interval for a write, then probe.
                    first = self._queue.get(timeout=None if self.health.ok else self.health_probe_interval_s)
                except queue.Empty:
                    self._run_group(conn, [_Job(_probe_write)])
                    continue
                if first is _STOP:
                    return
                batch: list[_Job] = [first]
                stop_after = False
                while len(batch) < self.group_commit_max:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stop_after = True
                        break
                    batch.append(nxt)
                over = False
                if until_stat == 0:
                    over = self._wal_bytes() >= 2 * self.wal_limit_bytes
                    # Over: look again before the next group, in case this restart is skipped.
                    until_stat = 1 if over else WAL_STAT_EVERY_GROUPS
                until_stat -= 1
                if self._restart_wanted.is_set() or over:
                    self._restart_wal(conn)  # the backstop: writes outran the checkpoint thread's passes
                self._run_group(conn, batch)
                if stop_after:
                    return
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()

    def _run_group(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        results: list[tuple[_Job, bool, Any]] = []
        failure: BaseException | None = None  # the last "storage cannot take it" error of a write
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._group_failed(exc)
            err = StorageUnavailable(f"cannot begin a write: {exc}")
            _deliver([(job, False, err) for job in batch])
            return
        for job in batch:
            if job.future.cancelled():
                continue
            try:
                conn.execute("SAVEPOINT job")
                value = job.fn(conn)
                conn.execute("RELEASE job")
                results.append((job, True, value))
            except BaseException as exc:
                try:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK TO job")
                        conn.execute("RELEASE job")
                except sqlite3.Error:
                    pass
                if is_unavailable(exc):
                    failure = exc
                    exc = StorageUnavailable(str(exc))
                results.append((job, False, exc))
        try:
            conn.execute("COMMIT")
            self.commits += 1
            self.grouped_writes += len(results)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            # A write that hit SQLITE_FULL may have rolled the whole transaction back: its error is the cause.
            self._group_failed(failure or exc)
            err = StorageUnavailable(f"commit failed: {failure or exc}")
            _deliver([(job, False, err) for job, _, _ in results])
            return
        if failure is not None:
            self._group_failed(failure)
        elif any(ok for _, ok, _ in results):
            self._set_health(True)
        _deliver(results)

    def _group_failed(self, exc: BaseException) -> None:
        if is_corrupt(exc):
            self._report_corrupt(exc)
        else:
            self._set_health(False, str(exc))

    def _checkpoint_loop(self) -> None:
        conn: sqlite3.Connection | None = None
        commits_seen = self.commits
        while not self._stopping.wait(self.checkpoint_interval_s):
            idle, commits_seen = self.commits == commits_seen, self.commits
            try:
                if conn is None:
                    conn = connect(self.path, busy_timeout_ms=_CHECKPOINT_BUSY_MS)
                    conn.execute(f"PRAGMA journal_size_limit = {int(self.wal_limit_bytes)}")
                with self._checkpointing:
                    self.checkpoint_once(conn, idle=idle)
            except sqlite3.Error as exc:
                log.debug("checkpoint skipped: %s", exc)
        if conn is not None:
            conn.close()

    def checkpoint_once(self, conn: sqlite3.Connection, *, idle: bool) -> str | None:
        """One pass of the checkpoint thread; returns what it did (None: nothing to do).

        PASSIVE copies the WAL into the database without blocking anyone, but under sustained writes it
        never catches up with the frames written while it runs: the WAL then never restarts from its
        beginning, and its file grows without bound (78 MiB after 30 s of /event load, never cut back).
        So once the WAL holds ``wal_limit_bytes``, the pass asks the writer for a RESTART checkpoint
        ("RESTART" returned): the writer runs it before its next group, the one moment no write is in
        progress (a RESTART from this thread rarely gets the write lock between back-to-back groups), and
        only the frames written since this PASSIVE are left to copy. That group then writes from the
        WAL's start and its commit cuts the file back to ``journal_size_limit``. With no commit since the
        last pass, TRUNCATE empties the file: an idle agent keeps no WAL on its flash.
        """
        if idle:
            if self._wal_bytes() > 0:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                return "TRUNCATE"
            return None
        _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        if frames * (page_size + 24) < self.wal_limit_bytes:  # a WAL frame is a page and a 24-byte header
            return "PASSIVE"
        self._restart_wanted.set()
        return "RESTART"

    def _restart_wal(self, conn: sqlite3.Connection) -> None:
        """Writer thread, between groups: finish the checkpoint so the next group starts the WAL over.

        Skipped (tried again before the next group) while the checkpoint thread is copying: waiting for it
        would hold up the writes for as long as its PASSIVE takes.
        """
        if not self._checkpointing.acquire(blocking=False):
            return
        try:
            conn.execute(f"PRAGMA busy_timeout = {_CHECKPOINT_BUSY_MS}")  # readers may hold it this long
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            if not busy:
                self._restart_wanted.clear()
        except sqlite3.Error as exc:
            log.debug("WAL restart skipped: %s", exc)
        finally:
            self._checkpointing.release()
            with contextlib.suppress(sqlite3.Error):
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")

    def _wal_path(self) -> Path:
        return self.path.with_name(self.path.name + "-wal")

    def _wal_bytes(self) -> int:
        try:
            return self._wal_path().stat().st_size
        except OSError:
            return 0

    # -- reads ---------------------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, busy_timeout_ms=self.busy_timeout_ms)
            self._local.conn = conn
            with self._read_lock:
                self._read_conns.append(conn)
        return conn

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return fn(self._reader())
        except (sqlite3.DatabaseError, OSError) as exc:
            if is_corrupt(exc):
                self._report_corrupt(exc)
            if is_unavailable(exc):
                raise StorageUnavailable(str(exc)) from exc
            raise

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read-only ``fn(conn)`` on a reader thread (a consistent WAL snapshot per statement)."""
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._readers, self._read, fn)
        except RuntimeError as exc:  # the pool is shut down: closing, or being replaced by recover()
            raise StorageUnavailable("storage is not open") from exc
        return await future

    def read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._readers.submit(self._read, fn).result()

    # -- facts ---------------------------------------------------------------------------------------

    def file_sizes(self) -> dict[str, int]:
        def size(p: Path) -> int:
            try:
                return p.stat().st_size
            except OSError:
                return 0

        return {
            "sizeBytes": size(self.path),
            "walBytes": size(self._wal_path()),
        }


def _settle(future: Future[Any] | asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # cancelled by its caller meanwhile
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _settle_all(items: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in items:
        _settle(future, ok, value)


def _deliver(results: list[tuple[_Job, bool, Any]]) -> None:
    """Hand the group's outcomes back: thread futures directly, loop futures with one wake-up per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
    for job, ok, value in results:
        if job.loop is None:
            _settle(job.future, ok, value)
        else:
            by_loop.setdefault(job.loop, []).append((job.future, ok, value))  # type: ignore[arg-type]
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(_settle_all, items)
