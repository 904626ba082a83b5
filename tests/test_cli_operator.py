"""The operator commands against a running agent and on bad input: ``--url``, exit codes (0 ok, 1 failed,
2 bad input or configuration), one-line errors, ``--json`` output."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner, Result

from edge_agent import __version__
from edge_agent.cli import main
from edge_agent.cli_sync import push_line
from tests.conftest import MakeClient


def run(*args: str | Path | int, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


async def run_beside(*args: str | Path | int, env: dict[str, str] | None = None) -> Result:
    """The command blocks (urllib): run it on a thread so the test's agent answers."""
    return await asyncio.to_thread(run, *args, env=env)


def url_of(client: TestClient) -> str:
    return str(client.make_url("")).rstrip("/")


def one_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_status_and_health_reach_a_daemon_by_url(client: TestClient) -> None:
    url = url_of(client)

    table = await run_beside("status", "--url", url)
    as_json = await run_beside("status", "--url", url, "--json")
    health = await run_beside("health", "--url", url)

    assert table.exit_code == 0, table.output
    assert "sync state" in table.output and "offline" in table.output
    verdict = json.loads(as_json.output)["verdict"]
    assert table.output.splitlines()[0].split(None, 1) == [
        "verdict",
        f"{verdict['title']} ({verdict['level']})",
    ]
    assert "queue pending" in table.output and not table.output.lstrip().startswith("{")
    assert as_json.exit_code == 0
    assert json.loads(as_json.output)["version"] == __version__
    assert health.exit_code == 0 and health.output.startswith("ready")


async def test_status_exits_1_on_a_403_and_says_why(make_client: MakeClient) -> None:
    client = await make_client(server={"admin_token": "the-right-one"})

    result = await run_beside(
        "status", "--url", url_of(client), env={"EDGE_AGENT_SERVER__ADMIN_TOKEN": "a-wrong-one"}
    )

    assert result.exit_code == 1
    line = one_line(result)
    assert "403" in line and "admin" in line


def test_health_and_status_exit_1_when_nothing_answers() -> None:
    url = f"http://127.0.0.1:{closed_port()}"

    health = run("health", "--url", url)
    status = run("status", "--url", url)

    assert health.exit_code == 1 and status.exit_code == 1
    assert "not answering" in one_line(status) and "Errno" not in status.stderr


def test_health_falls_back_to_the_settings_port() -> None:
    port = closed_port()

    result = run("health", env={"EDGE_AGENT_SERVER__PORT": str(port)})

    assert result.exit_code == 1
    assert f"127.0.0.1:{port}" in one_line(result)


def test_a_bad_url_is_bad_input() -> None:
    result = run("status", "--url", "ftp://x")

    assert result.exit_code == 2
    assert "--url" in one_line(result)


def test_version_in_text_and_json() -> None:
    text = run("version")
    as_json = run("version", "--json")

    assert text.exit_code == 0 and __version__ in text.output
    assert json.loads(as_json.output)["version"] == __version__


def test_a_list_given_as_plain_text_names_the_variable_and_json() -> None:
    result = run("check-config", env={"EDGE_AGENT_AUTH__API_KEYS": "key1"})

    assert result.exit_code == 2
    line = one_line(result)
    assert "EDGE_AGENT_AUTH__API_KEYS" in line and "JSON" in line and "None" not in line


def test_a_bad_value_names_the_key_and_the_variable() -> None:
    result = run("check-config", env={"EDGE_AGENT_SERVER__PORT": "eighty"})

    assert result.exit_code == 2
    assert "server.port (EDGE_AGENT_SERVER__PORT)" in one_line(result)


@pytest.mark.parametrize("level", ["debug", "Warning", "ERROR"])
def test_log_levels_are_case_insensitive(level: str) -> None:
    result = run("check-config", env={"EDGE_AGENT_LOGGING__LEVEL": level})

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["logging"]["level"] == level.upper()


def test_bundle_load_missing_and_invalid_files_both_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 3}')

    missing = run("bundle", "load", tmp_path / "nope.json", "--db", tmp_path / "a.db")
    invalid = run("bundle", "load", bad, "--db", tmp_path / "a.db")
    invalid_json = run("bundle", "load", bad, "--db", tmp_path / "a.db", "--json")

    assert missing.exit_code == 2 and "nope.json" in one_line(missing)
    assert invalid.exit_code == 2 and "bundle error" in invalid.stderr
    assert invalid_json.exit_code == 2
    report = json.loads(invalid_json.stdout)
    assert report["ok"] is False and report["errors"]


def test_serve_with_a_missing_bundle_exits_2(tmp_path: Path) -> None:
    args = ("--db", tmp_path / "a.db", "--bundle", tmp_path / "nope.json", "--port", closed_port())
    result = run("serve", *args)

    assert result.exit_code == 2
    assert "--bundle" in one_line(result)


def test_queue_retry_of_an_unknown_id_is_bad_input(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    assert run("queue", "status", "--db", db).exit_code == 1  # no database yet: a failure, one line
    assert run("queue", "import", _empty_export(tmp_path), "--db", db).exit_code == 0

    result = run("queue", "retry", "nope", "--db", db)

    assert result.exit_code == 2
    line = one_line(result)
    assert "no dead-letter row" in line and "queued again" in line


def test_queue_export_to_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    assert run("queue", "import", _empty_export(tmp_path), "--db", db).exit_code == 0

    result = run("queue", "export", tmp_path / "missing" / "x.jsonl", "--db", db)

    assert result.exit_code == 2
    assert "cannot write" in one_line(result) and "missing" in result.stderr


def _empty_export(tmp_path: Path) -> Path:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    return path


def test_a_push_report_reads_as_words_not_a_repr() -> None:
    line = push_line(
        {"mode": "batch", "startedAt": 1.5, "attempted": 3, "delivered": 2, "retried": 1, "dead": 0,
         "calls": 1, "dropped": {"max_rows": 4}, "stoppedBecause": "done", "durationSeconds": 0.25}
    )  # fmt: skip

    expected = "2 delivered, 1 to retry, 0 dead-lettered of 3 attempted in 1 call(s), 0.25 s"
    assert line == expected + "; evicted 4 (max_rows)"
    assert "startedAt" not in line and "=" not in line


def test_an_unreachable_plain_http_upstream_is_not_described_as_ssl(tmp_path: Path) -> None:
    upstream = f"http://127.0.0.1:{closed_port()}"

    result = run("sync", "--db", tmp_path / "a.db", "--upstream", upstream)

    assert result.exit_code == 1
    assert "cannot connect to 127.0.0.1" in result.stdout
    assert "ssl" not in result.output and "repr" not in result.output
    assert "push: " in result.stdout and "startedAt" not in result.stdout
