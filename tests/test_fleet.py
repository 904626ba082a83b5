"""``bench/fleet.py`` at CI size: 30 agents × 10 events back from a 600 s outage (virtual time) against
the reference upstream limited to 30 calls/s. The 300- and 1,000-agent figures are in docs/sync.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

FLEET = Path(__file__).resolve().parents[1] / "bench" / "fleet.py"


def test_a_small_fleet_back_from_an_outage_delivers_once_within_the_rate() -> None:
    args = ["--agents", "30", "--events-per-agent", "10", "--outage-s", "600", "--upstream-rate", "30"]
    done = subprocess.run(
        [sys.executable, str(FLEET), *args, "--json"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["agents"] == 30 and figures["events"] == 300
    assert figures["delivered_unique"] == 300 and figures["duplicates"] == 0 and figures["lost"] == 0
    assert figures["rate_limit_per_s"] == 30
    assert 0 < figures["peak_rate_per_s"] <= 1.5 * 30
    assert figures["requests"] > 0 and figures["rejected_429"] <= 0.10 * figures["requests"]
    assert 0 < figures["drain_s"] < 600
