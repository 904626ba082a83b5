"""``edge-agent queue status|list|retry|purge|export|import|salvage``: the outbox, seen and handled by an
operator.

Each command takes ``--db PATH`` (default: the daemon's ``storage.path``) and ``--json``, and works beside a
running daemon (SQLite WAL; a write waits up to ``storage.busy_timeout_ms`` for the daemon's writer). The
row operations are ``storage.outbox_admin``'s functions:

====================  ===========================================================================
``list_rows``         ``(conn, state, limit) -> list[dict]`` oldest first, camelCase keys
``retry_dead``        ``(conn, ids | None, now) -> int`` dead → pending, due now (None = every dead row)
``purge``             ``(conn, *, state, ids) -> int`` delete rows in ``state`` (only ``ids`` if given)
``export_pending``    ``(conn, out: TextIO, *, now) -> int`` a format line, then one pending row a line
``import_rows``       ``(conn, lines, now) -> ImportResult(imported, skipped)``; ValueError names a bad line
====================  ===========================================================================

Export files are JSON Lines. Rows keep their ``id`` (the ``Idempotency-Key``) through export and import,
so an upstream that already has a row deduplicates it; an import is one transaction (a bad line imports
nothing). Export files are created owner-only (0600). ``salvage FILE`` does the same for the readable rows
of a database moved aside as corrupt (``storage/salvage.py``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, cast

import click

from edge_agent.cli_support import (
    CONFIG_OPTION,
    DB_OPTION,
    JSON_OPTION,
    BadInput,
    echo_json,
    open_database,
    settings_with_db,
)
from edge_agent.storage import outbox, outbox_admin, salvage
from edge_agent.storage.files import open_private_text
from edge_agent.storage.outbox_admin import RowState

STATES = ("pending", "delivered", "dead")


def _open(config_file: Path | None, db_path: Path | None, *, must_exist: bool = True) -> Any:
    return open_database(settings_with_db(config_file, db_path), must_exist=must_exist)


class _CountingWriter:
    """A text stream that advances a progress bar per line written through it."""

    def __init__(self, out: IO[str], advance: Callable[[int], None]) -> None:
        self.out, self.advance = out, advance

    def write(self, text: str) -> int:
        self.advance(text.count("\n"))
        return self.out.write(text)


def _stderr_bar(length: int, label: str) -> Any:
    # stderr, so `--json` output on stdout stays parseable.
    return click.progressbar(length=length, label=label, file=sys.stderr)


@click.group()
def queue() -> None:
    """Inspect and handle the outbox (what waits for the upstream)."""


@queue.command()
@CONFIG_OPTION
@DB_OPTION
@JSON_OPTION
def status(config_file: Path | None, db_path: Path | None, as_json: bool) -> None:
    """Counts by state, age of the oldest pending row, bytes not yet delivered."""
    with _open(config_file, db_path) as db:
        summary = db.read_sync(lambda conn: outbox.queue_summary(conn, time.time()))
    if as_json:
        click.echo(json.dumps(summary))
        return
    age = summary["oldestPendingAgeSeconds"]
    click.echo(f"pending:    {summary['pending']}")
    click.echo(f"delivered:  {summary['delivered']}")
    click.echo(f"dead:       {summary['dead']}")
    click.echo(f"oldest:     {'-' if age is None else f'{age:.0f} s'}")
    click.echo(f"bytes:      {summary['bytes']}")


@queue.command("list")
@click.option("--state", type=click.Choice(STATES), help="Only rows in this state (default: all).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@CONFIG_OPTION
@DB_OPTION
@JSON_OPTION
def list_(
    state: str | None, limit: int, config_file: Path | None, db_path: Path | None, as_json: bool
) -> None:
    """List outbox rows, oldest first (dead letters show their last error)."""
    with _open(config_file, db_path) as db:
        rows = db.read_sync(lambda conn: outbox_admin.list_rows(conn, cast(RowState | None, state), limit))
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        error = row.get("lastError") or ""
        fields = [row.get("seq"), row.get("id"), row.get("state"), f"{row.get('method')} {row.get('path')}"]
        click.echo("\t".join(str(f) for f in fields) + (f"\t{error}" if error else ""))
    if not rows:
        click.echo("no rows", err=True)


@queue.command()
@click.argument("ids", nargs=-1)
@click.option("--all", "retry_all", is_flag=True, help="Every dead-letter row.")
@CONFIG_OPTION
@DB_OPTION
@JSON_OPTION
def retry(
    ids: tuple[str, ...], retry_all: bool, config_file: Path | None, db_path: Path | None, as_json: bool
) -> None:
    """Queue dead-letter rows again (IDS, or --all)."""
    if not ids and not retry_all:
        raise click.ClickException("name the row ids to retry, or pass --all")
    with _open(config_file, db_path) as db:
        count = db.write_sync(lambda conn: outbox_admin.retry_dead(conn, list(ids) or None, time.time()))
    if ids and count < len(set(ids)):
        raise BadInput(
            f"{len(set(ids)) - count} of the given id(s) name no dead-letter row "
            f"(see `edge-agent queue list --state dead`); {count} queued again"
        )
    click.echo(json.dumps({"retried": count}) if as_json else f"{count} row(s) queued again")


@queue.command()
@click.argument("ids", nargs=-1)
@click.option("--state", type=click.Choice(STATES), required=True, help="Delete rows in this state.")
@click.option("--yes", is_flag=True, help="Do not ask before deleting pending rows.")
@CONFIG_OPTION
@DB_OPTION
@JSON_OPTION
def purge(
    ids: tuple[str, ...], state: str, yes: bool, config_file: Path | None, db_path: Path | None, as_json: bool
) -> None:
    """Delete rows in --state (all of them, or only IDS). Pending rows are data not yet sent: asks first."""
    if state == "pending" and not yes:
        click.confirm("Delete pending rows that were never delivered?", abort=True)
    with _open(config_file, db_path) as db:
        count = db.write_sync(
            lambda conn: outbox_admin.purge(conn, state=cast(RowState, state), ids=list(ids) or None)
        )
    click.echo(json.dumps({"purged": count}) if as_json else f"{count} {state} row(s) deleted")


@queue.command("export")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, writable=True))
@CONFIG_OPTION
@DB_OPTION
@JSON_OPTION
def export(file: Path, config_file: Path | None, db_path: Path | None, as_json: bool) -> None:
    """Write every pending row to FILE (JSON Lines), e.g. to carry it to a connected machine."""
    export_pending = outbox_admin.export_pending
    with _open(config_file, db_path) as db:
        pending = int(db.read_sync(lambda conn: outbox.queue_summary(conn, time.time()))["pending"] or 0)
        try:
            out_file = open_private_text(file)  # owner-only: the rows hold personal data
        except OSError as exc:
            raise BadInput(f"cannot write {file}: {exc.strerror or exc}") from None
        with out_file as out, _stderr_bar(pending, "exporting") as bar:
            # One read transaction: a consistent snapshot even while the daemon keeps queueing.
            writer = _CountingWriter(out, lambda lines: bar.update(lines))
            count = db.read_sync(lambda conn: export_pending(conn, writer, now=time.time()))
    result = {"exported": count, "file": str(file)}
    click.echo(json.dumps(result) if as_json else f"{count} row(s) written to {file}")


def _lines(file: Path, bar: Any) -> Iterator[str]:
    with file.open(encoding="utf-8") as f:
        for line in f:
            bar.update(len(line.encode()))
            yield line


@queue.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@CONFIG_OPTION
@DB_OPTION
@JSON_OPTION
def import_(file: Path, config_file: Path | None, db_path: Path | None, as_json: bool) -> None:
    """Add the rows of an export FILE to this queue (rows whose id is already here are skipped)."""
    import_rows = outbox_admin.import_rows
    with (
        _open(config_file, db_path, must_exist=False) as db,
        _stderr_bar(file.stat().st_size, "importing") as bar,
    ):
        try:
            # One write transaction, so a bad line imports nothing.
            result = db.write_sync(lambda conn: import_rows(conn, _lines(file, bar), time.time()))
        except ValueError as exc:
            raise click.ClickException(f"{file}: {exc}; nothing imported") from None
    out = {"imported": result.imported, "skipped": result.skipped}
    click.echo(
        json.dumps(out) if as_json else f"{result.imported} row(s) imported, {result.skipped} already here"
    )


@queue.command("salvage")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@CONFIG_OPTION
@DB_OPTION
@JSON_OPTION
def salvage_(file: Path, config_file: Path | None, db_path: Path | None, as_json: bool) -> None:
    """Queue again the readable rows of a moved-aside database FILE (``<name>.corrupt-<time>``).

    Rows keep their id, so nothing is sent twice upstream, and a second salvage adds nothing. Exit code 0
    when FILE was read, 1 when nothing in it could be read, 2 for a FILE that is missing or is the live
    database.
    """
    settings = settings_with_db(config_file, db_path)
    if not file.is_file():
        raise BadInput(f"no such file: {file}")
    if file.resolve() == settings.storage.path.resolve():
        raise BadInput(f"{file} is the live database; name the moved-aside file")
    try:
        found = salvage.read_outbox(file)
    except salvage.SalvageError as exc:
        raise click.ClickException(str(exc)) from None  # exit code 1: nothing readable
    with open_database(settings, must_exist=False) as db:
        result = db.write_sync(lambda conn: salvage.salvage_into(conn, found, time.time()))
    out = {**result.as_dict(), "file": str(file)}
    if as_json:
        click.echo(json.dumps(out))
        return
    click.echo(
        f"{result.salvaged} row(s) queued again, {result.present} already here, "
        f"{result.unreadable} unreadable, {result.delivered} already delivered (not queued)"
    )
