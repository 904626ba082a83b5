"""Migrations: every step applies once, and an up-to-date database opens without loading sqlite-utils."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from edge_agent.storage.migrations import STEPS, migrate


def test_every_step_applies_once(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    try:
        assert migrate(conn) == [step.__name__ for step in STEPS]
        assert migrate(conn) == []
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"meta", "outbox", "profile_state", "item_scores"} <= tables
    finally:
        conn.close()


def test_an_up_to_date_database_does_not_import_sqlite_utils(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    probe = (
        "import sqlite3, sys; from edge_agent.storage.migrations import migrate; "
        f"conn = sqlite3.connect({str(db)!r}, isolation_level=None); "
        "print(len(migrate(conn)), 'sqlite_utils' in sys.modules)"
    )

    def run() -> str:
        return subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True
        ).stdout

    assert run().split() == [str(len(STEPS)), "True"]  # a new file: the steps run with sqlite-utils
    assert run().split() == ["0", "False"]  # the same file again: one query, no import
