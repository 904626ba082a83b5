"""The WAL stays bounded: a checkpoint restarts it once it holds the limit, and an idle agent empties it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.storage.database import WAL_STAT_EVERY_GROUPS, Database, connect

LIMIT = 256 * 1024
BLOB = "x" * 50_000


def wal_bytes(db: Database) -> int:
    wal = db.path.with_name(db.path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def fill(db: Database, rows: int, prefix: str) -> None:
    """Commit ``rows`` writes of a 50 kB value each, one transaction per write."""
    for i in range(rows):
        db.write_sync(
            lambda conn, k=f"{prefix}{i}": conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)", (k, BLOB)
            )
        )


@pytest.fixture
def manual(tmp_path: Path) -> Iterator[Database]:
    """A database whose checkpoint thread never runs on its own: the test runs each pass."""
    database = Database(
        tmp_path / "t.db", synchronous="NORMAL", checkpoint_interval_s=3600, wal_limit_bytes=LIMIT
    )
    database.open()
    yield database
    database.close()


def test_journal_size_limit_is_set_on_the_writer(manual: Database) -> None:
    limit = manual.write_sync(lambda conn: conn.execute("PRAGMA journal_size_limit").fetchone()[0])
    assert limit == LIMIT


def test_a_wal_over_the_limit_is_restarted_and_cut_back(manual: Database) -> None:
    conn = connect(manual.path)
    try:
        assert manual.checkpoint_once(conn, idle=True) == "TRUNCATE"  # start from an empty WAL
        written = 0
        while wal_bytes(manual) < LIMIT:
            fill(manual, 1, f"a{written}")
            written += 1
        assert wal_bytes(manual) < 2 * LIMIT  # under the writer's own backstop
        assert manual.checkpoint_once(conn, idle=False) == "RESTART"  # asks the writer
    finally:
        conn.close()
    fill(manual, 1, "b")  # the writer restarts the WAL first; this commit truncates the file to the limit
    assert wal_bytes(manual) <= LIMIT


def test_writes_that_outrun_the_checkpoint_thread_still_restart_the_wal(manual: Database) -> None:
    # No checkpoint pass runs at all: the writer's backstop restarts the WAL at twice the limit. It looks
    # at the WAL's size before one group in WAL_STAT_EVERY_GROUPS, so the WAL may grow that many groups
    # (here one write each) past twice the limit before it starts over.
    peak, step, cuts, last = 0, 0, 0, wal_bytes(manual)
    for i in range(120):  # ~7 MiB of WAL without the backstop
        fill(manual, 1, f"a{i}")
        size = wal_bytes(manual)
        step = max(step, size - last)
        cuts += size < last
        peak, last = max(peak, size), size
    assert cuts >= 2  # the backstop fired, and again after the first cut
    assert peak <= 2 * LIMIT + WAL_STAT_EVERY_GROUPS * step


def test_a_small_wal_gets_a_passive_checkpoint_only(manual: Database) -> None:
    conn = connect(manual.path)
    try:
        assert manual.checkpoint_once(conn, idle=True) == "TRUNCATE"  # what the migrations wrote
        manual.write_sync(lambda c: c.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')"))
        assert 0 < wal_bytes(manual) < LIMIT
        assert manual.checkpoint_once(conn, idle=False) == "PASSIVE"
        assert wal_bytes(manual) > 0  # PASSIVE never shrinks the file
        assert manual.checkpoint_once(conn, idle=True) == "TRUNCATE"
        assert wal_bytes(manual) == 0
        assert manual.checkpoint_once(conn, idle=True) is None  # nothing left to do
    finally:
        conn.close()


def test_the_wal_file_is_truncated_once_writes_stop(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db", synchronous="NORMAL", checkpoint_interval_s=0.05, wal_limit_bytes=LIMIT)
    db.open()
    try:
        fill(db, 40, "a")
        # The checkpoint thread notices a pass with no commit and empties the file; wait for that, bounded.
        deadline = time.monotonic() + 10
        while wal_bytes(db) > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert wal_bytes(db) == 0
        rows = db.read_sync(
            lambda conn: conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'a%'").fetchone()[0]
        )
        assert rows == 40  # every committed write is in the main file
    finally:
        db.close()
