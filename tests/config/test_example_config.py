"""The example settings file in the docs is valid as shipped."""

from __future__ import annotations

from pathlib import Path

from edge_agent.config.settings import load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "edge-agent.toml"


def test_example_config_loads() -> None:
    s = load_settings(EXAMPLE)
    assert s.agent_id == "store-0042-kiosk-1"
    assert str(s.upstream.url) == "https://central.example/v2"
    assert s.auth.sections == ["6819e7c0d7303f0f6b0ef263"]
    assert s.decision.timezone == "Europe/Moscow"
    assert s.storage.path == Path("/var/lib/edge-agent/agent.db")
