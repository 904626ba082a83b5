"""``edge-agent sync`` and ``edge-agent bundle show|load``: operator commands on the daemon's database.

They work whether the daemon runs or not (SQLite WAL lets two processes share the file):

- ``sync`` drains the queue and pulls the bundle now. Beside a running daemon both may send the same
  pending row; the upstream deduplicates by ``Idempotency-Key``, so nothing is counted twice.
- ``bundle load`` validates a file and stores it as the current bundle. A running daemon adopts a bundle
  stored by another process on its next ``bundle-stored`` check (every ``bundle.watch_interval_s``). With
  an upstream configured, the upstream's bundle replaces it again at the next pull (``since`` names a
  version the upstream does not know, so it answers in full): ``bundle load`` is for offline sites and
  emergencies. At start, ``bundle.path`` / ``--bundle`` wins over a stored bundle.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from edge_agent.agent.bundles import BundleHolder, compile_checked
from edge_agent.agent.sync_wiring import bundle_hooks
from edge_agent.cli_support import (
    CONFIG_OPTION,
    DB_OPTION,
    EXIT_BAD_INPUT,
    JSON_OPTION,
    BadInput,
    echo_json,
    open_database,
    settings_with_db,
)
from edge_agent.clock import SystemClock
from edge_agent.config.settings import Settings
from edge_agent.errors import BundleInvalid
from edge_agent.storage.bundles import (
    COLLECTIONS,
    load_stored_bundle,
    parse_bundle,
    store_bundle,
    stored_bundle_head,
)
from edge_agent.storage.database import Database
from edge_agent.storage.outbox import queue_summary
from edge_agent.sync.client import create_session
from edge_agent.sync.jobs import SyncJobs
from edge_agent.sync.state import SyncState

PROGRESS_EVERY_S = 1.0


async def _progress(db: Database, echo: Callable[[str], None]) -> None:
    """A line per second while the drain runs: how much is still waiting."""
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)
        q = await db.read(lambda conn: queue_summary(conn, time.time()))
        echo(f"… pending {q['pending']}, delivered {q['delivered']}, dead {q['dead']}")


async def run_sync(settings: Settings, db: Database, echo: Callable[[str], None]) -> dict[str, Any]:
    """Push then pull once, forced, on an opened database. The bundle is validated, compiled and stored
    like the daemon does (no daemon needed); a running daemon adopts it on its next check."""
    clock = SystemClock()
    state = SyncState(configured=True, state_since=clock.now())
    jobs = SyncJobs(db, settings, clock, state, bundle_hooks(BundleHolder(), db, clock))
    async with create_session(settings) as session:
        jobs.bind(session)
        ticker = asyncio.create_task(_progress(db, echo))
        try:
            result = await jobs.sync_now()
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
    return {**result, "sync": state.as_dict()}


@click.command()
@CONFIG_OPTION
@DB_OPTION
@click.option("--upstream", help="Central API base URL (default: upstream.url).")
@JSON_OPTION
def sync(config_file: Path | None, db_path: Path | None, upstream: str | None, as_json: bool) -> None:
    """Push the queue and pull the bundle now (ignoring backoff), with the daemon's database.

    Works while the daemon is stopped; beside a running one the upstream deduplicates what both send.
    Exit code 1 when the pull failed or was refused.
    """
    settings = settings_with_db(config_file, db_path, upstream__url=upstream)
    if settings.upstream.url is None:
        raise click.ClickException("no upstream configured: set upstream.url or pass --upstream URL")
    with open_database(settings, must_exist=False) as db:
        result = asyncio.run(run_sync(settings, db, lambda line: click.echo(line, err=True)))
    pull = result["pull"]
    if as_json:
        echo_json(result)
    else:
        click.echo(f"push: {push_line(result['push'])}")
        click.echo(f"pull: {pull['outcome']} (version {pull['version'] or '-'})")
        for line in pull["errors"]:
            click.echo(f"  {line}")
    if pull["outcome"] in ("error", "rejected") or "error" in result["push"]:
        sys.exit(1)


def push_line(push: dict[str, Any]) -> str:
    """A drain report (``DrainReport.as_dict``) in words."""
    if "error" in push:
        return f"failed: {push['error']}"
    line = (
        f"{push.get('delivered', 0)} delivered, {push.get('retried', 0)} to retry, "
        f"{push.get('dead', 0)} dead-lettered of {push.get('attempted', 0)} attempted "
        f"in {push.get('calls', 0)} call(s), {float(push.get('durationSeconds') or 0):.2f} s"
    )
    dropped = push.get("dropped") or {}
    if dropped:
        line += "; evicted " + ", ".join(f"{n} ({reason})" for reason, n in sorted(dropped.items()))
    stopped = push.get("stoppedBecause")
    return line + (f"; stopped: {stopped}" if stopped and stopped != "done" else "")


@click.group()
def bundle() -> None:
    """Show or load the stored bundle (rules and content)."""


def describe_stored(db: Database) -> dict[str, Any] | None:
    current = db.read_sync(load_stored_bundle)
    if current is None:
        return None
    previous = db.read_sync(lambda conn: stored_bundle_head(conn, "previous"))
    doc = current["doc"]
    return {
        "version": current["version"],
        "source": current["source"],
        "loadedAt": current["loadedAt"],
        "etag": current["etag"],
        "generatedAt": doc.get("generatedAt"),
        "counts": {name: len(doc.get(name) or []) for name in COLLECTIONS},
        "previous": previous["version"] if previous else None,
    }


@bundle.command()
@CONFIG_OPTION
@DB_OPTION
@JSON_OPTION
def show(config_file: Path | None, db_path: Path | None, as_json: bool) -> None:
    """Print the stored current bundle: version, source, loadedAt, counts."""
    settings = settings_with_db(config_file, db_path)
    with open_database(settings) as db:
        info = describe_stored(db)
    if info is None:
        raise click.ClickException("no bundle stored yet (the daemon starts on the demo bundle)")
    if as_json:
        echo_json(info)
        return
    loaded = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(info["loadedAt"]))
    click.echo(f"version:   {info['version']}")
    click.echo(f"source:    {info['source']}")
    click.echo(f"loadedAt:  {loaded}")
    click.echo("counts:    " + ", ".join(f"{n} {name}" for name, n in info["counts"].items()))
    click.echo(f"previous:  {info['previous'] or '-'}")


@bundle.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@CONFIG_OPTION
@DB_OPTION
@JSON_OPTION
def load(file: Path, config_file: Path | None, db_path: Path | None, as_json: bool) -> None:
    """Validate FILE and store it as the current bundle (the current one becomes previous).

    A bad file lists every problem and exits with code 2; nothing is stored. A running daemon adopts the
    new bundle within bundle.watch_interval_s.
    """
    settings = settings_with_db(config_file, db_path)
    if not file.is_file():
        raise BadInput(f"no such bundle file: {file}")
    try:
        model, doc = parse_bundle(file.read_bytes())
        compile_checked(model)
    except BundleInvalid as exc:
        if as_json:
            echo_json({"ok": False, "file": str(file), "errors": exc.errors})
        for line in exc.errors:
            click.echo(f"bundle error: {line}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    source = f"cli:{file.resolve()}"
    with open_database(settings, must_exist=False) as db:
        db.write_sync(lambda conn: store_bundle(conn, doc, source=source, now=time.time()))
        info = describe_stored(db)
    assert info is not None
    if as_json:
        echo_json(info)
        return
    click.echo(f"bundle {model.version} stored as current (previous: {info['previous'] or '-'})")
    click.echo(f"a running daemon adopts it within {settings.bundle.watch_interval_s:g} s")
