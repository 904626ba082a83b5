"""``edge-agent queue salvage FILE`` on a real queue with damaged pages, ``storage acknowledge``, and the
owner-only export file."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

from click.testing import CliRunner

from edge_agent.cli import main
from edge_agent.storage import recovery
from edge_agent.storage.database import Database
from edge_agent.storage.outbox import enqueue, ready_rows
from tests.helpers import db_rows

PAGE = 4096
ROWS = 60


def seed(path: Path) -> dict[str, str]:
    """``ROWS`` outbox rows whose bodies (~3 KB) fill one table page each; marker → id."""
    db = Database(path)
    db.open()
    markers: dict[str, str] = {}
    try:
        now = time.time()
        for i in range(ROWS):
            marker = f"salvage-marker-{i:04d}-"
            body = json.dumps({"sec": "s1", "data": [{"type": "note", "name": marker + "x" * 3000}]})
            row = db.write_sync(
                lambda conn, body=body, i=i: enqueue(
                    conn, sec="s1", method="POST", path="/event", body=body, uid=f"u{i}", now=now + i
                )
            )
            markers[marker] = row.id
    finally:
        db.close()  # checkpoints: every row is in the main file
    return markers


def damage_rows(path: Path, markers: dict[str, str], picks: list[int]) -> set[str]:
    """Zero the table pages that hold the picked rows; returns the ids lost."""
    data = bytearray(path.read_bytes())
    lost = set()
    for i in picks:
        marker = f"salvage-marker-{i:04d}-"
        page = data.index(marker.encode()) // PAGE
        data[page * PAGE : (page + 1) * PAGE] = bytes(PAGE)
        lost.add(markers[marker])
    path.write_bytes(bytes(data))
    return lost


def salvage(source: Path, live: Path) -> tuple[int, dict[str, int]]:
    result = CliRunner().invoke(main, ["queue", "salvage", str(source), "--db", str(live), "--json"])
    return result.exit_code, json.loads(result.output) if result.exit_code == 0 else {}


def test_salvage_brings_back_every_row_not_on_a_damaged_page_once(tmp_path: Path) -> None:
    damaged = tmp_path / "agent.db.corrupt-20261202T171500Z"
    markers = seed(damaged)
    lost = damage_rows(damaged, markers, [20, 21, 35])
    live = tmp_path / "agent.db"

    code, out = salvage(damaged, live)
    assert code == 0
    assert out["salvaged"] == ROWS - len(lost) and out["present"] == 0
    assert out["unreadable"] == len(lost)
    back = {r["id"] for r in db_rows(live, "SELECT id FROM outbox WHERE state = 'pending'")}
    assert back == set(markers.values()) - lost

    db = Database(live)
    db.open()
    try:
        ready = db.read_sync(lambda conn: ready_rows(conn, now=time.time() + 1, limit=1000))
    finally:
        db.close()
    assert {r.id for r in ready} == back  # due now: the next drain sends them with their old ids

    code, again = salvage(damaged, live)
    assert code == 0 and again["salvaged"] == 0 and again["present"] == ROWS - len(lost)
    assert len(db_rows(live, "SELECT id FROM outbox")) == ROWS - len(lost)


def test_salvage_exit_codes_for_bad_input_and_unreadable_files(tmp_path: Path) -> None:
    live = tmp_path / "agent.db"
    assert salvage(tmp_path / "missing.db", live)[0] == 2
    seed(live)
    assert salvage(live, live)[0] == 2  # the live database itself
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 500)
    assert salvage(garbage, live)[0] == 1


def test_storage_acknowledge_clears_the_recorded_moves(tmp_path: Path) -> None:
    live = tmp_path / "agent.db"
    db = Database(live)
    db.open()
    try:
        db.write_sync(
            lambda conn: recovery.record(
                conn, original=live, moved_to=tmp_path / "agent.db.corrupt-x", reason="test", now=1.0
            )
        )
    finally:
        db.close()
    result = CliRunner().invoke(main, ["storage", "acknowledge", "--db", str(live), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["acknowledged"] == 1
    again = CliRunner().invoke(main, ["storage", "acknowledge", "--db", str(live), "--json"])
    assert json.loads(again.output)["acknowledged"] == 0


def test_queue_export_file_is_owner_only(tmp_path: Path) -> None:
    live = tmp_path / "agent.db"
    seed(live)
    out = tmp_path / "export.jsonl"
    out.write_text("old")
    out.chmod(0o644)
    result = CliRunner().invoke(main, ["queue", "export", str(out), "--db", str(live)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert len(out.read_text().splitlines()) == ROWS + 1
