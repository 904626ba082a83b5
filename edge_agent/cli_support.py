"""What every ``edge-agent`` command shares: the ``--config``/``--db``/``--json`` options, loading settings
(bad configuration: one line per field, exit code 2), logging, opening the daemon's database, and the exit
codes.

Exit codes, for every command: 0 ok; 1 failed (the daemon did not answer or answered not ready, a sync or
write failed); 2 bad input or configuration (a bad flag, a missing or invalid file, an unknown row id). An
error is one line on stderr: ``Error: …``, never a traceback.

Kept apart from ``cli.py`` so the command modules (``cli_sync``, ``cli_queue``) import it without importing
the group that registers them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from edge_agent.config.settings import ConfigError, Settings, load_settings
from edge_agent.errors import StorageUnavailable
from edge_agent.storage.database import Database

CONFIG_OPTION = click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML settings file (environment variables EDGE_AGENT_* override it).",
)
DB_OPTION = click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="SQLite database file (default: storage.path, the daemon's).",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def set_override(overrides: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` in a nested override dict; None means "not given" and changes nothing."""
    if value is None:
        return
    node = overrides
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class BadInput(click.ClickException):
    """What the operator gave cannot be used (a missing or invalid file, an unknown id): exit code 2."""

    exit_code = EXIT_BAD_INPUT


def settings_or_exit(config_file: Path | None, overrides: dict[str, Any] | None = None) -> Settings:
    try:
        return load_settings(config_file, overrides)
    except ConfigError as exc:
        for line in exc.lines:
            click.echo(line, err=True)
        sys.exit(EXIT_BAD_INPUT)


def settings_with_db(config_file: Path | None, db_path: Path | None, **dotted: Any) -> Settings:
    """Settings for an operator command: ``--db`` and any ``section.key=value`` overrides applied."""
    overrides: dict[str, Any] = {}
    set_override(overrides, "storage.path", db_path)
    for key, value in dotted.items():
        set_override(overrides, key.replace("__", "."), value)
    return settings_or_exit(config_file, overrides)


@contextmanager
def open_database(settings: Settings, *, must_exist: bool = True) -> Iterator[Database]:
    """The daemon's database, opened (and migrated) for one command, closed after.

    SQLite in WAL mode lets this run beside a running daemon: readers never block, and a write waits up
    to ``storage.busy_timeout_ms`` for the daemon's writer.
    """
    path = settings.storage.path
    if must_exist and not path.exists():
        raise click.ClickException(f"no database at {path} (pass --db, or start the daemon once)")
    db = Database(
        path, synchronous=settings.storage.synchronous, busy_timeout_ms=settings.storage.busy_timeout_ms
    )
    try:
        db.open()
    except StorageUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield db
    finally:
        db.close()


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))
