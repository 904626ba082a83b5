"""``bench/soak.py`` at CI size: 30 s of load with the upstream flapping every 5 s loses nothing and
delivers nothing twice. The full 10-minute run's figures are in docs/reliability.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SOAK = Path(__file__).resolve().parents[1] / "bench" / "soak.py"


def test_a_short_soak_with_a_flapping_upstream_loses_nothing() -> None:
    args = ["--duration", "30", "--flap-s", "5", "--rate", "60", "--settle-s", "30", "--json"]
    done = subprocess.run([sys.executable, str(SOAK), *args], capture_output=True, text=True, timeout=120)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0, done.stderr[-2000:]
    assert figures["flaps"] >= 4  # down and up at least twice each
    assert figures["accepted"] >= 1000 and figures["refused"] == 0
    assert figures["lost"] == 0 and figures["undelivered"] == 0
    assert figures["delivered"] == figures["accepted"]
    assert figures["duplicates"] == 0 and figures["gaps"] == 0
    assert figures["peak_rss_mib"] > 0
