"""The settings tree.

Sources, highest first: explicit overrides (CLI flags), ``EDGE_AGENT_*`` environment variables
(``__`` nests: ``EDGE_AGENT_UPSTREAM__URL``), the TOML file given with ``--config``, then defaults.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

DEFAULT_PORT = 8787
# Deepest JSON nesting a request body may have; far above what any SDK sends (about 10 levels) and well
# under what the serializer (255) and the interpreter's stack can hold.
DEFAULT_MAX_JSON_DEPTH = 32


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir("edge-agent", appauthor=False)) / "agent.db"


def _not_blank(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise ValueError("must not be blank or whitespace")
    return value


# A key or token: a blank one would match an empty bearer, or pass "keys are set" checks while none is.
Secret = Annotated[SecretStr, AfterValidator(_not_blank)]
_ORIGIN = re.compile(r"^https?://[^/\s?#]+$")


def _origins(values: list[str]) -> list[str]:
    out = []
    for value in values:
        origin = value.strip().rstrip("/").lower()
        if not _ORIGIN.match(origin):
            raise ValueError(f"{value!r} is not an origin (scheme://host[:port], no path)")
        out.append(origin)
    return out


def _hosts(values: list[str]) -> list[str]:
    out = []
    for value in values:
        host = value.strip().lower().rstrip(".")
        if not host or any(c in host for c in "/?#@ "):
            raise ValueError(f"{value!r} is not a host name or address (no scheme, port or path)")
        out.append(host.strip("[]"))
    return out


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(Section):
    host: str = Field("127.0.0.1", description="Address to listen on. Loopback by default.")
    port: int = Field(DEFAULT_PORT, ge=1, le=65535, description="TCP port to listen on.")
    public_url: AnyHttpUrl | None = Field(
        None,
        description="Base URL minted into engagement URLs; default http://<host>:<port>.",
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest accepted request body (413 above)."
    )
    max_json_depth: int = Field(
        DEFAULT_MAX_JSON_DEPTH,
        ge=8,
        le=200,
        description="Deepest nesting of objects and arrays a request body may have (422 above); "
        "the root object is level 1.",
    )
    allowed_hosts: Annotated[list[str], AfterValidator(_hosts)] = Field(
        default_factory=list,
        description="More `Host` names the agent answers to, besides its listener address, localhost, "
        "127.0.0.1, ::1 and the host of `server.public_url` (others: 421).",
    )
    cors_origins: Annotated[list[str], AfterValidator(_origins)] = Field(
        default_factory=list,
        description="Web origins (`https://shop.example`) allowed to call the SDK routes from a browser; "
        "empty = CORS off and every foreign `Origin` refused (403).",
    )
    admin_token: Secret | None = Field(
        None,
        description="Bearer token for /status, /metrics, /admin/* and the page /; none: loopback only.",
    )
    # The SDKs give up on a request after 5 s; on loopback a whole request arrives in one packet. These
    # bounds only cut off clients that hold a connection without finishing a request.
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Most seconds from a connection's first byte (or its opening) to complete request "
        "headers; a slower client gets 408 and is closed.",
    )
    body_timeout_s: float = Field(
        30.0,
        gt=0,
        description="Most seconds to receive a request body once its headers are in (408 and closed after).",
    )
    keepalive_timeout_s: float = Field(
        15.0, gt=0, description="Idle seconds after a response before a keep-alive connection is closed."
    )
    max_connections: int = Field(
        4096,
        ge=1,
        description="Most open client connections. At the cap the longest-waiting idle or header-reading "
        "connection is closed to make room; with none, the new one gets 503. Also bounded by the open-file "
        "limit (`LimitNOFILE`).",
    )


class AuthSettings(Section):
    api_keys: list[Secret] = Field(
        default_factory=list,
        description="Accepted SDK bearer tokens. Empty = any bearer (loopback listeners only).",
    )
    sections: list[str] = Field(
        default_factory=list, description="Accepted `sec` values. Empty = any section."
    )


class StorageSettings(Section):
    path: Path = Field(default_factory=default_db_path, description="SQLite database file.")
    synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL", description="SQLite synchronous mode for the write connection (FULL keeps every 200 durable)."
    )
    busy_timeout_ms: int = Field(
        1000,
        ge=0,
        le=4000,
        description=(
            "How long a write waits on a locked database before answering 503 + Retry-After. Well under the"
            " SDKs' 5 s request timeout (at most 4000), so a client sees the 503 instead of giving up."
        ),
    )
    group_commit_max: int = Field(256, ge=1, description="Most writes committed together in one transaction.")
    checkpoint_interval_s: float = Field(
        1.0, gt=0, description="How often a background thread checkpoints the WAL (off the commit path)."
    )


class BundleSettings(Section):
    path: Path | None = Field(None, description="Bundle file to load at start (default: stored, else demo).")
    watch: bool = Field(False, description="Reload `bundle.path` when the file changes.")
    watch_interval_s: float = Field(
        5.0,
        gt=0,
        description="How often the watched bundle file is checked, and how often the daemon adopts a bundle "
        "another process stored (`edge-agent bundle load`, `edge-agent sync`).",
    )


class SessionSettings(Section):
    idle_timeout_s: float = Field(1800, gt=0, description="Idle time after which a new `ses` is issued.")
    cold_start_window_s: float = Field(
        5,
        ge=0,
        description="A call without `ses` reuses a session opened this recently from the same device.",
    )


class DecisionSettings(Section):
    max_campaigns: int = Field(1, ge=1, description="Most campaigns returned by one /visit or /event.")
    timezone: str | None = Field(
        None, description="IANA time zone for `time.*` and per-day caps; default local."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        # Resolving here also loads the zone into zoneinfo's cache before the event loop runs.
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value


class GeoSettings(Section):
    country: str | None = Field(None, description="Reported in user details: the kiosk's country.")
    country_iso: str | None = Field(None, description="ISO 3166-1 code of `geo.country`.")
    region: str | None = Field(None, description="Region name.")
    region_iso: str | None = Field(None, description="ISO 3166-2 code of the region.")
    city: str | None = Field(None, description="City name.")
    city_id: str | None = Field(None, description="City id.")


class UpstreamSettings(Section):
    url: AnyHttpUrl | None = Field(None, description="Central API base URL; none = offline forever.")
    api_key: Secret | None = Field(None, description="Bearer for the upstream when no per-sec key matches.")
    section_keys: dict[str, Secret] = Field(
        default_factory=dict, description="Per-`sec` upstream bearer tokens."
    )
    timeout_s: float = Field(10.0, gt=0, description="Total timeout of one upstream call.")
    connect_timeout_s: float = Field(3.0, gt=0, description="Connect timeout of one upstream call.")


class SyncSettings(Section):
    mode: Literal["replay", "batch", "auto"] = Field(
        "auto", description="Push mode: replay original calls, batch endpoint, or try batch then replay."
    )
    push_interval_s: float = Field(5.0, gt=0, description="How often the outbox drain runs.")
    pull_interval_s: float = Field(
        60.0, gt=0, description="How often bundle updates are pulled (±20 % jitter)."
    )
    backoff_base_s: float = Field(1.0, gt=0, description="First retry delay.")
    backoff_max_s: float = Field(
        300.0, gt=0, description="Retry delay cap (full jitter applied after the cap)."
    )
    max_in_flight: int = Field(4, ge=1, description="Most concurrent upstream calls.")
    max_rate: float = Field(50.0, gt=0, description="Most upstream calls per second.")
    start_jitter_s: float = Field(
        10.0, ge=0, description="Random delay before the first drain and the first pull after start."
    )
    batch_max_items: int = Field(500, ge=1, le=500, description="Items per batch call.")
    batch_max_bytes: int = Field(512 * 1024, ge=1024, description="Bytes per batch call.")


class QueueSettings(Section):
    max_rows: int = Field(1_000_000, ge=1, description="Outbox row bound.")
    max_bytes: int = Field(1024**3, ge=1, description="Outbox size bound in bytes.")
    max_age_days: float = Field(30, gt=0, description="Rows older than this are evicted, pending or not.")


class RetentionSettings(Section):
    delivered_days: float = Field(7, ge=0, description="Delivered outbox rows are pruned after this.")
    history_days: float = Field(180, gt=0, description="Event history kept for segments and recommendations.")


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level (any case: `debug` = `DEBUG`)."
    )
    format: Literal["text", "json"] = Field(
        "text", description="`text` for a person, `json` (one object a line) for a log collector."
    )
    access_log: bool = Field(
        False, description="One line per request: method, route, status, duration, request id."
    )

    @field_validator("level", "format", mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return value.upper() if value.lower() in ("debug", "info", "warning", "error") else value.lower()


class Settings(BaseSettings):
    """Everything edge-agent can be told. Every field is documented in docs/configuration.md."""

    model_config = SettingsConfigDict(
        env_prefix="EDGE_AGENT_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    agent_id: str | None = Field(
        None, description="This agent's id towards the upstream; default: minted once and stored."
    )
    server: ServerSettings = Field(default_factory=ServerSettings, description="HTTP listener.")
    auth: AuthSettings = Field(default_factory=AuthSettings, description="SDK authentication.")
    storage: StorageSettings = Field(default_factory=StorageSettings, description="SQLite storage.")
    bundle: BundleSettings = Field(default_factory=BundleSettings, description="Rules and content.")
    session: SessionSettings = Field(default_factory=SessionSettings, description="Session rotation.")
    decision: DecisionSettings = Field(default_factory=DecisionSettings, description="Local decisioning.")
    geo: GeoSettings = Field(default_factory=GeoSettings, description="The agent's configured location.")
    upstream: UpstreamSettings = Field(default_factory=UpstreamSettings, description="Central API.")
    sync: SyncSettings = Field(default_factory=SyncSettings, description="Push and pull schedule.")
    queue: QueueSettings = Field(default_factory=QueueSettings, description="Outbox bounds.")
    retention: RetentionSettings = Field(default_factory=RetentionSettings, description="Pruning.")
    logging: LoggingSettings = Field(default_factory=LoggingSettings, description="Logging.")

    _toml_file: Path | None = None

    @model_validator(mode="after")
    def _keys_required_off_loopback(self) -> Settings:
        if not self.auth.api_keys and not is_loopback(self.server.host):
            raise ValueError(
                f"server.host {self.server.host!r} is not a loopback address: set auth.api_keys "
                "before listening on the network"
            )
        return self

    @property
    def public_url(self) -> str:
        if self.server.public_url is not None:
            return str(self.server.public_url).rstrip("/")
        return self.local_url

    @property
    def local_url(self) -> str:
        """The listener as a URL a process on this device can call (a wildcard host becomes loopback)."""
        host = self.server.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.server.port}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = _TOML_FILE.get()
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack listener
    return address.is_loopback


class _TomlFile:
    """The TOML file for the settings being built; pydantic-settings sources are chosen per class."""

    def __init__(self) -> None:
        self.path: Path | None = None

    def get(self) -> Path | None:
        return self.path


_TOML_FILE = _TomlFile()


class ConfigError(Exception):
    """Bad configuration: one line per bad field in ``lines``."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


def load_settings(config_file: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Build the settings from all sources; raise ConfigError with one line per problem."""
    if config_file is not None and not config_file.is_file():
        raise ConfigError([f"config error: --config: no such file: {config_file}"])
    _TOML_FILE.path = config_file
    try:
        return Settings(**(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(format_validation_errors(exc)) from None
    except SettingsError as exc:  # an environment value that is not the JSON a list or map needs
        raise ConfigError([settings_error_line(exc)]) from None
    except ValueError as exc:  # a TOML syntax error surfaces as ValueError from tomllib
        raise ConfigError([f"config error: {config_file}: {exc}"]) from None
    finally:
        _TOML_FILE.path = None


def env_var(key: str) -> str:
    """The environment variable of a dotted key: ``auth.api_keys`` → ``EDGE_AGENT_AUTH__API_KEYS``."""
    return "EDGE_AGENT_" + key.replace(".", "__").upper()


def format_validation_errors(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"] if not isinstance(part, int))
        msg = err["msg"].removeprefix("Value error, ")
        where = f"{loc} ({env_var(loc)})" if loc else "settings"
        lines.append(f"config error: {where}: {msg}")
    return lines


_SETTINGS_FIELD = re.compile(r'field "(\w+)"')


def settings_error_line(exc: SettingsError) -> str:
    """pydantic-settings names only the section (``field "auth"``): name the variables set under it."""
    match = _SETTINGS_FIELD.search(str(exc))
    section = match.group(1) if match else ""
    prefix = env_var(section)
    names = sorted(n for n in os.environ if n.upper() == prefix or n.upper().startswith(prefix + "__"))
    where = ", ".join(names) or prefix
    return f"config error: {where}: not valid JSON (lists and maps are given as JSON, e.g. '[\"key-1\"]')"


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings as JSON-able data with every secret masked."""
    data: dict[str, Any] = settings.model_dump(mode="json")
    data["public_url_effective"] = settings.public_url
    return data
