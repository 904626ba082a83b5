"""The ``edge-agent`` command: ``serve``, ``check-config``, ``health``, ``status``, ``version``, and the
operator commands registered from ``cli_sync`` (``sync``, ``bundle show|load``), ``cli_queue``
(``queue …``) and ``cli_storage`` (``storage acknowledge``).

Exit codes and one-line errors: ``cli_support`` (0 ok, 1 failed, 2 bad input or configuration).
"""

from __future__ import annotations

import importlib
import json
import logging
import platform
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import click

from edge_agent import __version__
from edge_agent.agent.logs import configure_logging
from edge_agent.cli_support import (
    CONFIG_OPTION,
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    JSON_OPTION,
    BadInput,
    echo_json,
    set_override,
    settings_or_exit,
)
from edge_agent.config.settings import Settings, is_loopback, masked

log = logging.getLogger("edge_agent")


#: Command groups imported only when named: ``edge-agent serve`` does not load the queue, storage and sync
#: commands or the reference upstream (``upstream-sim``).
_LAZY_COMMANDS = {
    "sync": ("edge_agent.cli_sync", "sync"),
    "queue": ("edge_agent.cli_queue", "queue"),
    "bundle": ("edge_agent.cli_sync", "bundle"),
    "storage": ("edge_agent.cli_storage", "storage"),
    "upstream-sim": ("edge_agent.upstream_sim.command", "upstream_sim"),
}


class OneLineErrors(click.Group):
    """Whatever a command did not turn into a ``ClickException`` still ends as one line, exit code 1.

    The groups of :data:`_LAZY_COMMANDS` are imported on first use (click's lazy-group pattern).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _LAZY_COMMANDS and cmd_name not in self.commands:
            module, attribute = _LAZY_COMMANDS[cmd_name]
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.Abort, click.exceptions.Exit, SystemExit, KeyboardInterrupt):
            raise
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}") from None
        except Exception as exc:
            log.debug("unexpected error", exc_info=True)
            raise click.ClickException(str(exc) or type(exc).__name__) from None


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
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
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"], case_sensitive=False),
    help="Log lines as text or one JSON object a line (logging.format).",
)
def serve(
    config_file: Path | None,
    host: str | None,
    port: int | None,
    db_path: Path | None,
    bundle_path: Path | None,
    upstream: str | None,
    log_format: str | None,
) -> None:
    """Run the daemon."""
    from edge_agent.agent.app import create_app
    from edge_agent.agent.server import ListenError, run
    from edge_agent.errors import BundleInvalid, StorageUnavailable

    overrides: dict[str, Any] = {}
    set_override(overrides, "server.host", host)
    set_override(overrides, "server.port", port)
    set_override(overrides, "storage.path", db_path)
    set_override(overrides, "bundle.path", bundle_path)
    set_override(overrides, "upstream.url", upstream)
    set_override(overrides, "logging.format", log_format)
    settings = settings_or_exit(config_file, overrides)
    configure_logging(settings.logging.level, settings.logging.format)
    if bundle_path is not None and not bundle_path.is_file():
        raise BadInput(f"--bundle: no such file: {bundle_path}")
    if not settings.auth.api_keys and is_loopback(settings.server.host):
        log.warning(
            "no auth.api_keys configured: accepting any bearer token on loopback %s", settings.server.host
        )
    app = create_app(settings)
    try:
        run(app, settings.server, database=str(settings.storage.path))
    except BundleInvalid as exc:
        for line in exc.errors:
            click.echo(f"bundle error: {line}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except StorageUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    except ListenError as exc:
        raise click.ClickException(str(exc)) from None


@main.command("check-config")
@CONFIG_OPTION
def check_config(config_file: Path | None) -> None:
    """Validate the configuration and print the effective settings (secrets masked)."""
    settings = settings_or_exit(config_file)
    click.echo(json.dumps(masked(settings), indent=2))


URL_OPTION = click.option(
    "--url",
    help="The daemon's base URL, e.g. http://127.0.0.1:8787 (default: server.host and server.port).",
)


def daemon_url(settings: Settings, url: str | None) -> str:
    if url is None:
        return settings.local_url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadInput(f"--url: not an http(s) URL: {url}")
    return url.rstrip("/")


def _get_json(settings: Settings, base: str, path: str) -> tuple[int, Any]:
    url = base + path
    headers = {"Accept": "application/json"}
    if settings.server.admin_token is not None:
        headers["Authorization"] = f"Bearer {settings.server.admin_token.get_secret_value()}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, _json_or_none(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, _json_or_none(exc.read())
    except urllib.error.URLError as exc:
        reason = getattr(exc.reason, "strerror", None) or exc.reason
        raise click.ClickException(f"edge-agent is not answering on {base}: {reason}") from None
    except OSError as exc:
        raise click.ClickException(f"edge-agent is not answering on {base}: {exc.strerror or exc}") from None


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return None


def _refused(code: int, body: Any, base: str, path: str) -> str:
    """One line for a non-200 answer: the envelope's first error, or the status."""
    errors = body.get("errors") if isinstance(body, dict) else None
    detail = errors[0] if errors else (body.get("error") if isinstance(body, dict) else None)
    hint = " (set server.admin_token to the daemon's)" if code == 403 else ""
    return f"{base}{path} answered {code}: {detail or 'no JSON body'}{hint}"


@main.command()
@CONFIG_OPTION
@URL_OPTION
@JSON_OPTION
def health(config_file: Path | None, url: str | None, as_json: bool) -> None:
    """Exit 0 when the running daemon is ready, 1 when it is not or does not answer (for probes)."""
    settings = settings_or_exit(config_file)
    base = daemon_url(settings, url)
    code, body = _get_json(settings, base, "/readyz")
    if as_json:
        echo_json(body)
    elif code == 200:
        click.echo(f"ready (bundle {body.get('bundle') if isinstance(body, dict) else '-'})")
    else:
        click.echo(f"not ready: {_refused(code, body, base, '/readyz')}", err=True)
    sys.exit(0 if code == 200 else EXIT_FAILED)


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _at(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return (
        time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(stamp)) + f" ({_ago(time.time() - stamp)} ago)"
    )


def _bundle_line(bundle: dict[str, Any]) -> str:
    if not bundle:
        return "none loaded"
    return (
        f"{bundle.get('version', '-')} from {bundle.get('source', '-')}, {_ago(bundle.get('ageSeconds'))} old"
    )


def status_rows(body: dict[str, Any]) -> list[tuple[str, str]]:
    """``/status`` as label/value rows for a person."""
    sync = body.get("sync") or {}
    queue = body.get("queue") or {}
    bundle = body.get("bundle") or {}
    upstream = sync.get("upstream")
    last_error = sync.get("lastError")
    verdict = body.get("verdict") or {}
    return [
        ("verdict", f"{verdict.get('title', '-')} ({verdict.get('level', '-')})"),
        ("version", str(body.get("version", "-"))),
        ("uptime", _ago(body.get("uptimeSeconds"))),
        ("sync state", f"{sync.get('state', '-')} since {_at(sync.get('stateSince'))}"),
        (
            "upstream",
            str(
                upstream.get("url", upstream) if isinstance(upstream, dict) else upstream or "none (offline)"
            ),
        ),
        ("last success", _at(sync.get("lastSuccessAt"))),
        ("last error", str(last_error) if last_error else "-"),
        ("queue pending", f"{queue.get('pending', '-')} (oldest {_ago(queue.get('oldestAgeSeconds'))})"),
        ("dead letters", str(queue.get("deadLetter", "-"))),
        ("delivered", str(queue.get("delivered", "-"))),
        ("bundle", _bundle_line(bundle)),
        ("database", str((body.get("storage") or {}).get("path", "-"))),
    ]


@main.command()
@CONFIG_OPTION
@URL_OPTION
@JSON_OPTION
def status(config_file: Path | None, url: str | None, as_json: bool) -> None:
    """Print the running daemon's status (a table, or ``/status`` as JSON); exit 1 unless it answers 200."""
    settings = settings_or_exit(config_file)
    base = daemon_url(settings, url)
    code, body = _get_json(settings, base, "/status")
    if code != 200 or not isinstance(body, dict):
        if as_json and body is not None:
            echo_json(body)
        raise click.ClickException(_refused(code, body, base, "/status"))
    if as_json:
        echo_json(body)
        return
    rows = status_rows(body)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        click.echo(f"{label:<{width}}  {value}")


@main.command()
@JSON_OPTION
def version(as_json: bool) -> None:
    """Print edge-agent's version (and Python's)."""
    info = {"version": __version__, "python": platform.python_version()}
    click.echo(json.dumps(info) if as_json else f"edge-agent {__version__} (Python {info['python']})")
