"""``edge-agent queue status|list|retry|purge|export|import`` on a temp database: every queue command in
one place (``edge-agent sync`` is in test_cli_sync.py, the drains behind ``/admin/sync`` in
tests/sync/test_jobs.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

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


def run(*args: str | Path, input: str | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def queue_ids(db: Path, *extra: str) -> list[str]:
    result = run("queue", "list", "--db", db, "--json", *extra)
    assert result.exit_code == 0, result.output
    return [row["id"] for row in json.loads(result.output)]


def states(db: Path) -> dict[str, str]:
    return {r["id"]: r["state"] for r in db_rows(db, "SELECT id, state FROM outbox")}


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


def test_queue_list_shows_rows_oldest_first_by_state(db: Path) -> None:
    ids = seed_queue(db, 3)
    mark(db, ids[1], "dead")
    assert queue_ids(db) == ids
    assert queue_ids(db, "--state", "pending") == [ids[0], ids[2]]
    assert queue_ids(db, "--state", "dead") == [ids[1]]


def test_queue_retry_moves_dead_rows_back_to_pending(db: Path) -> None:
    ids = seed_queue(db, 3)
    for row_id in ids:
        mark(db, row_id, "dead")

    one = run("queue", "retry", ids[0], "--db", db, "--json")
    assert one.exit_code == 0 and json.loads(one.output) == {"retried": 1}
    assert states(db) == {ids[0]: "pending", ids[1]: "dead", ids[2]: "dead"}

    rest = run("queue", "retry", "--all", "--db", db, "--json")
    assert json.loads(rest.output) == {"retried": 2}
    assert set(states(db).values()) == {"pending"}


def test_queue_purge_deletes_by_state_and_asks_before_pending(db: Path) -> None:
    ids = seed_queue(db, 3)
    mark(db, ids[0], "dead")

    purged = run("queue", "purge", "--state", "dead", "--db", db, "--json")
    assert purged.exit_code == 0 and json.loads(purged.output) == {"purged": 1}
    assert set(states(db)) == {ids[1], ids[2]}

    refused = run("queue", "purge", "--state", "pending", "--db", db, input="n\n")
    assert refused.exit_code == 1 and set(states(db)) == {ids[1], ids[2]}
    assert run("queue", "purge", "--state", "pending", "--yes", "--db", db).exit_code == 0
    assert states(db) == {}


def test_export_then_import_keeps_the_row_ids(db: Path, tmp_path: Path) -> None:
    ids = seed_queue(db, 5)
    mark(db, ids[4], "dead")  # only pending rows travel
    carried = tmp_path / "usb" / "queue.jsonl"
    carried.parent.mkdir()

    exported = run("queue", "export", carried, "--db", db, "--json")
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.output.splitlines()[-1])["exported"] == 4
    lines = [json.loads(line) for line in carried.read_text().splitlines()]
    assert [line["id"] for line in lines[1:]] == ids[:4]  # line 1 names the format

    other = tmp_path / "other.db"
    imported = run("queue", "import", carried, "--db", other, "--json")
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.output.splitlines()[-1]) == {"imported": 4, "skipped": 0}
    assert queue_ids(other, "--state", "pending") == ids[:4]

    again = run("queue", "import", carried, "--db", other, "--json")
    assert json.loads(again.output.splitlines()[-1]) == {"imported": 0, "skipped": 4}


def test_a_bad_import_file_imports_nothing(db: Path, tmp_path: Path) -> None:
    ids = seed_queue(db, 2)
    carried = tmp_path / "queue.jsonl"
    assert run("queue", "export", carried, "--db", db).exit_code == 0
    carried.write_text(carried.read_text() + '{"id": "broken"}\n')
    other = tmp_path / "other.db"

    result = run("queue", "import", carried, "--db", other)

    assert result.exit_code == 1 and "line 4" in result.output and "nothing imported" in result.output
    assert queue_ids(other) == [] and len(ids) == 2


def test_an_import_row_whose_body_is_not_a_json_object_imports_nothing(db: Path, tmp_path: Path) -> None:
    """A POST row's body goes into a batch as stored: a malformed one is refused at the door."""
    seed_queue(db, 2)
    carried = tmp_path / "queue.jsonl"
    assert run("queue", "export", carried, "--db", db).exit_code == 0
    lines = carried.read_text().splitlines()
    row = json.loads(lines[2])
    for body in ('{"sec": "s", "data": [', "[1, 2]"):
        spoiled = tmp_path / "spoiled.jsonl"
        spoiled.write_text("\n".join([*lines[:2], json.dumps({**row, "body": body})]) + "\n")
        other = tmp_path / "other.db"

        result = run("queue", "import", spoiled, "--db", other)

        assert result.exit_code == 1 and "line 3" in result.output and "nothing imported" in result.output
        assert queue_ids(other) == []
