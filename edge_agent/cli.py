"""The ``edge-agent`` command: ``serve``, ``check-config``, ``health``, ``status``, and the operator
commands registered from ``cli_sync`` (``sync``, ``bundle show|load``) and ``cli_queue`` (``queue …``).

Errors are one line (``click.ClickException``); bad configuration prints one line per bad field and exits
with code 2.
"""

from __future__ import annotations

import json
import logging
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from edge_agent import __version__
from edge_agent.cli_support import CONFIG_OPTION, configure_logging, set_override, settings_or_exit
from edge_agent.config.settings import Settings, is_loopback, masked

log = logging.getLogger("edge_agent")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edge-agent")
def main() -> None:
    """edge-agent: the personalization SDK API on localhost, answered from SQLite, online or not."""


@main.command()
@CONFIG_OPTION
@click.option("--host", help="Listen address (default 127.0.0.1).")
@click.option("--port", type=int, help="Listen port (default 8787).")
@click.option(
    "--db", "db_path", type=click.Path(path_type=Path, dir_okay=False), help="SQLite database file."
)
@click.option(
    "--bundle", "bundle_path", type=click.Path(path_type=Path, dir_okay=False), help="Bundle JSON file."
)
@click.option("--upstream", help="Central API base URL (upstream.url); without one the agent stays offline.")
def serve(
    config_file: Path | None,
    host: str | None,
    port: int | None,
    db_path: Path | None,
    bundle_path: Path | None,
    upstream: str | None,
) -> None:
    """Run the daemon."""
    from aiohttp import web

    from edge_agent.agent.app import create_app
    from edge_agent.errors import BundleInvalid, StorageUnavailable

    overrides: dict[str, Any] = {}
    set_override(overrides, "server.host", host)
    set_override(overrides, "server.port", port)
    set_override(overrides, "storage.path", db_path)
    set_override(overrides, "bundle.path", bundle_path)
    set_override(overrides, "upstream.url", upstream)
    settings = settings_or_exit(config_file, overrides)
    configure_logging(settings.logging.level)
    if bundle_path is not None and not bundle_path.is_file():
        raise click.ClickException(f"--bundle: no such file: {bundle_path}")
    if not settings.auth.api_keys and is_loopback(settings.server.host):
        log.warning(
            "no auth.api_keys configured: accepting any bearer token on loopback %s", settings.server.host
        )
    app = create_app(settings)
    log.info(
        "edge-agent %s on http://%s:%d (database %s)",
        __version__,
        settings.server.host,
        settings.server.port,
        settings.storage.path,
    )
    try:
        web.run_app(app, host=settings.server.host, port=settings.server.port, print=None, access_log=None)
    except BundleInvalid as exc:
        for line in exc.errors:
            click.echo(f"bundle error: {line}", err=True)
        sys.exit(2)
    except StorageUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {settings.server.host}:{settings.server.port}: {exc}"
        ) from None


@main.command("check-config")
@CONFIG_OPTION
def check_config(config_file: Path | None) -> None:
    """Validate the configuration and print the effective settings (secrets masked)."""
    settings = settings_or_exit(config_file)
    click.echo(json.dumps(masked(settings), indent=2))


def _get_json(settings: Settings, path: str) -> tuple[int, Any]:
    url = f"http://{settings.server.host}:{settings.server.port}{path}"
    headers = {}
    if settings.server.admin_token is not None:
        headers["Authorization"] = f"Bearer {settings.server.admin_token.get_secret_value()}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except (urllib.error.URLError, OSError) as exc:
        raise click.ClickException(f"edge-agent is not answering on {url}: {exc}") from None


@main.command()
@CONFIG_OPTION
def health(config_file: Path | None) -> None:
    """Exit 0 when the running daemon is ready (for service managers and probes)."""
    settings = settings_or_exit(config_file)
    code, body = _get_json(settings, "/readyz")
    click.echo(json.dumps(body))
    sys.exit(0 if code == 200 else 1)


@main.command()
@CONFIG_OPTION
def status(config_file: Path | None) -> None:
    """Print the running daemon's status as JSON."""
    settings = settings_or_exit(config_file)
    _, body = _get_json(settings, "/status")
    click.echo(json.dumps(body, indent=2))


def _register_subcommands() -> None:
    from edge_agent.cli_queue import queue
    from edge_agent.cli_sync import bundle, sync
    from edge_agent.sync.simulator.command import upstream_sim

    main.add_command(sync, "sync")
    main.add_command(queue, "queue")
    main.add_command(bundle, "bundle")
    main.add_command(upstream_sim, "upstream-sim")


_register_subcommands()
