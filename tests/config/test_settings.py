"""The settings tree: sources, validation at start, masking, and generated docs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge_agent.cli import main
from edge_agent.config import docs
from edge_agent.config.settings import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_loopback_8787_with_demo_bundle() -> None:
    s = load_settings()
    assert (s.server.host, s.server.port) == ("127.0.0.1", 8787)
    assert s.bundle.path is None
    assert s.storage.path.name == "agent.db"
    assert s.public_url == "http://127.0.0.1:8787"


def test_environment_nests_with_double_underscore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_AGENT_SERVER__PORT", "9191")
    monkeypatch.setenv("EDGE_AGENT_AUTH__API_KEYS", '["k1", "k2"]')
    monkeypatch.setenv("EDGE_AGENT_UPSTREAM__URL", "https://central.example/v2")
    s = load_settings()
    assert s.server.port == 9191
    assert [k.get_secret_value() for k in s.auth.api_keys] == ["k1", "k2"]
    assert str(s.upstream.url) == "https://central.example/v2"


def test_toml_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text(
        '[server]\nport = 9000\npublic_url = "http://kiosk.local:9000"\n[session]\nidle_timeout_s = 60\n'
    )
    monkeypatch.setenv("EDGE_AGENT_SESSION__IDLE_TIMEOUT_S", "120")
    s = load_settings(cfg)
    assert s.server.port == 9000
    assert s.public_url == "http://kiosk.local:9000"
    assert s.session.idle_timeout_s == 120


def test_bad_fields_give_one_line_each(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[server]\nport = "many"\n[sync]\nmode = "sometimes"\nmax_in_flight = 0\n[nope]\nx = 1\n')
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    lines = info.value.lines
    assert any(line.startswith("config error: server.port (EDGE_AGENT_SERVER__PORT):") for line in lines)
    assert any(line.startswith("config error: sync.mode (EDGE_AGENT_SYNC__MODE):") for line in lines)
    assert any(
        line.startswith("config error: sync.max_in_flight (EDGE_AGENT_SYNC__MAX_IN_FLIGHT):")
        for line in lines
    )
    assert any(line.startswith("config error: nope (EDGE_AGENT_NOPE):") for line in lines)


def test_network_listener_without_keys_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(overrides={"server": {"host": "0.0.0.0"}})
    assert "auth.api_keys" in str(info.value)
    ok = load_settings(overrides={"server": {"host": "0.0.0.0"}, "auth": {"api_keys": ["k"]}})
    assert ok.public_url == "http://127.0.0.1:8787"


def test_cli_exits_2_with_one_line_per_bad_field(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[server]\nport = 0\nhost = "10.1.2.3"\n')
    result = CliRunner().invoke(main, ["check-config", "--config", str(cfg)])
    assert result.exit_code == 2
    assert "config error: server.port (EDGE_AGENT_SERVER__PORT):" in result.output
    result = CliRunner().invoke(main, ["serve", "--config", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_check_config_masks_secrets(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text('[auth]\napi_keys = ["super-secret"]\n[upstream]\napi_key = "up-secret"\n')
    result = CliRunner().invoke(main, ["check-config", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "super-secret" not in result.output and "up-secret" not in result.output
    shown = json.loads(result.output)
    assert shown["auth"]["api_keys"] == ["**********"]
    assert shown["server"]["port"] == 8787


def test_configuration_doc_is_current_and_covers_every_field() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    assert text == docs.render(), "docs/configuration.md is stale: python -m edge_agent.config.docs"
    for name, field in Settings.model_fields.items():
        sub_fields = getattr(field.annotation, "model_fields", None)
        if sub_fields is None:
            assert f"`{name}`" in text
            continue
        for sub in sub_fields:
            assert f"`{name}.{sub}`" in text


def test_unknown_time_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(overrides={"decision": {"timezone": "Mars/Olympus_Mons"}})
    where = "decision.timezone (EDGE_AGENT_DECISION__TIMEZONE)"
    assert info.value.lines == [f"config error: {where}: unknown time zone 'Mars/Olympus_Mons'"]
    moscow = load_settings(overrides={"decision": {"timezone": "Europe/Moscow"}})
    assert moscow.decision.timezone == "Europe/Moscow"


def test_busy_timeout_stays_under_the_sdks_request_timeout() -> None:
    assert load_settings().storage.busy_timeout_ms == 1000
    assert load_settings(overrides={"storage": {"busy_timeout_ms": 4000}}).storage.busy_timeout_ms == 4000
    with pytest.raises(ConfigError) as info:
        load_settings(overrides={"storage": {"busy_timeout_ms": 5000}})
    assert any(line.startswith("config error: storage.busy_timeout_ms") for line in info.value.lines)
