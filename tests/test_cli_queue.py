"""``edge-agent queue status`` on a temp database (the row operations are in tests/sync/test_cli_queue.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge_agent.cli import main
from edge_agent.storage.database import Database
from edge_agent.storage.outbox import enqueue
from tests.helpers import db_rows


def seed_queue(path: Path, count: int, *, age_s: float = 100.0) -> list[str]:
    """``count`` outbox rows, the oldest ``age_s`` seconds old; their ids, oldest first."""
    db = Database(path)
    db.open()
    try:
        now = time.time()
        return [
            db.write_sync(
                lambda conn, i=i: enqueue(
                    conn,
                    sec="s1",
                    method="POST",
                    path="/event",
                    body=json.dumps({"sec": "s1", "data": [{"type": "cart", "n": i}]}),
                    uid="u1",
                    now=now - age_s + i,
                )
            ).id
            for i in range(count)
        ]
    finally:
        db.close()


def mark(path: Path, row_id: str, state: str) -> None:
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE outbox SET state = ? WHERE id = ?", (state, row_id))
    conn.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "agent.db"


def test_queue_status_json_prints_exactly_the_summary(db: Path) -> None:
    ids = seed_queue(db, 3)
    mark(db, ids[2], "dead")
    size = sum(r["bytes"] for r in db_rows(db, "SELECT bytes FROM outbox"))

    result = CliRunner().invoke(main, ["queue", "status", "--db", str(db), "--json"])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert list(summary) == ["pending", "delivered", "dead", "oldestPendingAgeSeconds", "bytes"]
    assert (summary["pending"], summary["delivered"], summary["dead"]) == (2, 0, 1)
    assert 99 <= summary["oldestPendingAgeSeconds"] < 110
    assert summary["bytes"] == size


def test_queue_status_text(db: Path) -> None:
    seed_queue(db, 1)
    result = CliRunner().invoke(main, ["queue", "status", "--db", str(db)])
    assert result.exit_code == 0
    assert "pending:    1" in result.output and "dead:       0" in result.output


def test_queue_status_on_an_empty_queue(db: Path) -> None:
    seed_queue(db, 0)
    summary = json.loads(CliRunner().invoke(main, ["queue", "status", "--db", str(db), "--json"]).output)
    assert summary == {"pending": 0, "delivered": 0, "dead": 0, "oldestPendingAgeSeconds": None, "bytes": 0}


def test_queue_commands_need_an_existing_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["queue", "status", "--db", str(tmp_path / "missing.db")])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: no database at")
    assert not (tmp_path / "missing.db").exists()
