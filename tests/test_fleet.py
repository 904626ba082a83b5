"""``bench/fleet.py`` back from a 600 s outage (virtual time) against the reference upstream limited to R
calls/s: every event delivered exactly once, the arrival peak at most 1.5 × R, 429s at most 10 % of all
calls, the drain within its bound (docs/sync.md).

CI runs 30 agents × 10 events at R = 30. ``EDGE_AGENT_FLEET=300`` runs the acceptance size instead,
300 agents × 20 events at R = 150 (a few minutes); the 1,000-agent figures are in docs/sync.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

FLEET = Path(__file__).resolve().parents[1] / "bench" / "fleet.py"
SIZES = {"30": (30, 10, 30.0, 60), "300": (300, 20, 150.0, 900)}  # agents, events, R, wall timeout
AGENTS, EVENTS, RATE, WALL_S = SIZES[os.environ.get("EDGE_AGENT_FLEET", "30")]
PULL_INTERVAL_S, BATCH_MAX_ITEMS = 60.0, 500  # the default settings the fleet runs with


@pytest.mark.timeout(WALL_S + 30)
def test_a_fleet_back_from_an_outage_delivers_once_within_the_rate() -> None:
    args = ["--agents", AGENTS, "--events-per-agent", EVENTS, "--outage-s", 600, "--upstream-rate", RATE]
    command = [sys.executable, str(FLEET), *map(str, args), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=WALL_S)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    events = AGENTS * EVENTS
    assert figures["agents"] == AGENTS and figures["events"] == events
    assert figures["delivered_unique"] == events and figures["duplicates"] == 0 and figures["lost"] == 0
    assert figures["rate_limit_per_s"] == RATE
    assert 0 < figures["peak_rate_per_s"] <= 1.5 * RATE
    assert figures["requests"] > 0 and figures["rejected_429"] <= 0.10 * figures["requests"]
    bound = 1.2 * PULL_INTERVAL_S + AGENTS * -(-EVENTS // BATCH_MAX_ITEMS) / RATE
    assert 0 < figures["drain_s"] <= bound, figures
