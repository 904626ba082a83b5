"""What ships: the systemd unit under deploy/ passes ``systemd-analyze verify`` and sets what it must, and the
wheel builds without warnings, installs into a fresh virtualenv and serves its packaged demo bundle."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from edge_agent import __version__
from edge_agent.config.settings import Settings
from tests.agent.daemon import free_port
from tests.helpers import require_binary

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "edge-agent.service"
INSTALLED_BINARY = "/opt/edge-agent/bin/edge-agent"  # where docs/deploy.md installs it


def unit_directives(text: str) -> dict[str, list[str]]:
    """``Key=value`` lines of a unit file, every value of a key in order (comments and sections dropped)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_the_unit_sets_limits_hardening_and_shutdown() -> None:
    d = unit_directives(UNIT.read_text())
    one = {key: values[-1] for key, values in d.items()}
    exec_start = shlex.split(one["ExecStart"])
    db = Path(exec_start[exec_start.index("--db") + 1])

    assert exec_start[:2] == [INSTALLED_BINARY, "serve"]
    assert int(one["LimitNOFILE"]) > Settings().server.max_connections + 256
    assert one["NoNewPrivileges"] == "yes" and one["ProtectSystem"] == "strict"
    # The one writable place is the state directory, and the database is in it.
    assert one["ReadWritePaths"].split() == [str(db.parent)]
    assert db.parent == Path("/var/lib") / one["StateDirectory"]
    assert one["Restart"] == "on-failure"
    assert one["KillSignal"] == "SIGTERM" and 0 < int(one["TimeoutStopSec"]) <= 90
    assert one["User"] not in ("", "root") and "DynamicUser" not in d


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    tool = require_binary("systemd-analyze")
    return subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    # verify checks that ExecStart's binary exists, so the copy runs this environment's edge-agent. It does
    # not look the User up (a missing user is not reported), so the unit keeps its User as shipped.
    binary = Path(sys.executable).parent / "edge-agent"
    assert binary.is_file(), "edge-agent is not installed in this environment (pip install -e .)"
    copy = tmp_path / "edge-agent.service"
    copy.write_text(UNIT.read_text().replace(INSTALLED_BINARY, str(binary)))

    result = verify(copy)

    # verify exits 0 on a directive it ignores and says so on stderr: any output is a failure.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stderr


def test_systemd_analyze_reports_an_ignored_directive(tmp_path: Path) -> None:
    """The check above is worth something: a value systemd would ignore is printed."""
    binary = Path(sys.executable).parent / "edge-agent"
    copy = tmp_path / "edge-agent.service"
    text = UNIT.read_text().replace(INSTALLED_BINARY, str(binary))
    copy.write_text(text.replace("LimitNOFILE=16384", "LimitNOFILE=lots"))

    result = verify(copy)

    assert "LimitNOFILE" in result.stderr or "resource value" in result.stderr, result.stderr


# pip's own notes about this machine's index configuration, not about the project being built.
PIP_INDEX_NOTE = re.compile(r"^WARNING: Location '[^']*' is ignored")


def warnings_in(output: str) -> list[str]:
    return [
        line
        for line in output.splitlines()
        if re.search(r"warn|deprecat", line, re.I) and not PIP_INDEX_NOTE.match(line.strip())
    ]


def get(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"edge-agent serve exited ({proc.returncode}) before answering"
        try:
            if get(url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer 200 in {seconds:.0f} s")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_wheel_installs_in_a_fresh_venv_and_serves(tmp_path: Path) -> None:
    dist, venv, data = tmp_path / "dist", tmp_path / "venv", tmp_path / "data"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    assert not warnings_in(built.stdout + built.stderr), warnings_in(built.stdout + built.stderr)
    (wheel,) = dist.glob("edge_agent-*.whl")

    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    # Run from tmp, without PYTHONPATH: nothing may come from the checkout.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["EDGE_AGENT_LOGGING__LEVEL"] = "WARNING"
    binary = str(venv / "bin" / "edge-agent")
    version = subprocess.run([binary, "version"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert version.returncode == 0 and version.stdout.startswith(f"edge-agent {__version__} "), version

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with open(tmp_path / "serve.log", "wb") as log:
        proc = subprocess.Popen(
            [binary, "serve", "--port", str(port), "--db", str(data / "agent.db")],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(f"{base}/readyz", proc)
        status, raw = get(f"{base}/status")
        visit = {
            "sec": "demo",
            "type": "screenview",
            "user": {},
            "device": {"id": "kiosk-1"},
            "ctx": {"type": "HOMEPAGE", "data": [], "location": "app://home"},
        }
        code, answer = get(
            f"{base}/visit",
            json.dumps(visit).encode(),
            {"Content-Type": "application/json", "Authorization": "Bearer any-key"},
        )
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    log_text = (tmp_path / "serve.log").read_text()

    assert status == 200 and json.loads(raw)["bundle"]["source"] == "demo", raw
    assert code == 200 and json.loads(answer)["user"]["uid"], answer
    assert returncode == 0, log_text
    assert "Traceback" not in log_text, log_text
    assert (data / "agent.db").is_file()

    # scripts/serve and scripts/test install the checkout editable: that prints nothing either.
    editable = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--no-deps", "-e", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert editable.returncode == 0, editable.stderr
    assert not warnings_in(editable.stdout + editable.stderr), warnings_in(editable.stdout + editable.stderr)
