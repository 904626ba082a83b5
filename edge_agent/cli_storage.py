"""``edge-agent storage acknowledge``: the operator has seen that a corrupt database was moved aside.

The move is recorded in the fresh database and shown in ``/status`` (``storage.incidents``) until this
command (or ``POST /admin/storage/acknowledge``) marks it acknowledged. It writes the database directly,
so it works whether the daemon runs or not.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from edge_agent.cli_support import CONFIG_OPTION, DB_OPTION, JSON_OPTION, open_database, settings_with_db
from edge_agent.storage import recovery


@click.group()
def storage() -> None:
    """The database file: moves of a corrupt one, seen and acknowledged."""


@storage.command()
@CONFIG_OPTION
@DB_OPTION
@JSON_OPTION
def acknowledge(config_file: Path | None, db_path: Path | None, as_json: bool) -> None:
    """Mark the moved-aside databases shown in /status as seen (salvage them first: `queue salvage`)."""
    with open_database(settings_with_db(config_file, db_path)) as db:
        shown = db.read_sync(recovery.open_incidents)
        count = db.write_sync(lambda conn: recovery.acknowledge(conn, time.time()))
    if as_json:
        click.echo(json.dumps({"acknowledged": count, "files": [i.get("movedTo") for i in shown]}))
        return
    for item in shown:
        click.echo(f"acknowledged: {item.get('movedTo')} ({item.get('reason')})")
    if not count:
        click.echo("nothing to acknowledge")
