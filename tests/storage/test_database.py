"""The writer thread: group commit, isolation of a failing write, reads off the loop, clean close."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.errors import StorageUnavailable
from edge_agent.storage.database import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "t.db")
    database.open()
    yield database
    database.close()


def put(key: str) -> object:
    def write(conn: sqlite3.Connection) -> int:
        return conn.execute("INSERT INTO meta (key, value) VALUES (?, 'v')", (key,)).rowcount

    return write


async def test_concurrent_writes_share_commits(db: Database) -> None:
    results = await asyncio.gather(*(db.write(put(f"k{i}")) for i in range(200)))
    assert sum(results) == 200
    assert db.grouped_writes == 200
    assert db.commits < 200  # writes waiting together were committed together


async def test_a_failing_write_rolls_back_alone(db: Database) -> None:
    await db.write(put("dup"))

    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO meta (key, value) VALUES ('half', 'v')")
        raise ValueError("boom")

    outcomes = await asyncio.gather(
        db.write(put("a")),
        db.write(half_then_fail),
        db.write(put("dup")),
        db.write(put("b")),
        return_exceptions=True,
    )
    assert outcomes[0] == 1 and outcomes[3] == 1
    assert isinstance(outcomes[1], ValueError)
    assert isinstance(outcomes[2], sqlite3.IntegrityError)
    keys = await db.read(lambda c: sorted(r[0] for r in c.execute("SELECT key FROM meta")))
    assert keys == ["a", "b", "dup"]


async def test_wal_mode_and_full_sync(db: Database) -> None:
    mode = await db.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
    assert mode == "wal"
    sync = await db.write(lambda c: c.execute("PRAGMA synchronous").fetchone()[0])
    assert sync == 2  # FULL


def test_close_commits_what_was_queued(tmp_path: Path) -> None:
    database = Database(tmp_path / "c.db")
    database.open()
    futures = [database.submit(put(f"q{i}")) for i in range(50)]
    database.close()
    assert all(f.result() == 1 for f in futures)
    conn = sqlite3.connect(tmp_path / "c.db")
    assert conn.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 50
    conn.close()
    with pytest.raises(StorageUnavailable):
        database.submit(put("late"))


def test_unopenable_path_is_storage_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageUnavailable):
        Database(blocker / "sub" / "agent.db").open()
