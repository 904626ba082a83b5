"""Request bodies shaped like the SDKs send them, and direct reads of the agent's SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge_agent.storage.tracking import TrackRequest

SEC = "6819e7c0d7303f0f6b0ef263"
OPTS = {
    "isReturnCounter": False,
    "isReturnUserInfo": False,
    "isReturnAnalyticsMetadata": False,
    "isImplicitPageview": False,
    "isImplicitImpression": True,
    "isBuildEngagementUrl": True,
}


def envelope(user: dict[str, Any] | None = None, device_id: str = "dev-1", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sec": SEC,
        "device": {"ua": "Shop/2.3.0 (Android 14; Pixel 7)", "id": device_id, "tracking": "notSupported"},
        "user": user if user is not None else {},
        "ctx": {"type": "HOMEPAGE", "data": [], "location": "app://home"},
        "options": dict(OPTS),
    }
    body.update(extra)
    return body


def db_rows(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def db_count(db_path: Path, table: str) -> int:
    return int(db_rows(db_path, f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])


def require_binary(name: str) -> str:
    """Path of an external tool a test drives. In CI (``CI`` set) its absence fails the test, since
    ``scripts/install-test-tools`` installs it; on a developer machine the test is skipped instead."""
    import os
    import shutil

    import pytest

    path = shutil.which(name)
    if path is None:
        message = f"{name} not installed (scripts/install-test-tools installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def non_loopback_address() -> str:
    """An address of this machine that is not loopback, so a test can be a non-loopback caller honestly:
    a server bound to it sees its client's real peer address. Nothing leaves the machine. Without such an
    interface the test fails in CI and is skipped elsewhere, like ``require_binary``."""
    import ipaddress
    import os
    import socket

    import pytest

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # UDP connect sends nothing; it picks the outgoing address
            address = str(probe.getsockname()[0])
        except OSError:
            address = "127.0.0.1"
    if ipaddress.ip_address(address).is_loopback:
        message = "no non-loopback interface on this machine"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return address


def queued_event(body: dict[str, Any]) -> TrackRequest:
    """The ``TrackRequest`` the ``/event`` route builds from ``body``: validated by its request model,
    carrying its ``RouteSpec``. For the sync tests and the benches that queue events through the real
    write path (``storage.tracking.track``) without serving the app."""
    from edge_agent.agent.routes.table import EVENT
    from edge_agent.agent.wire import EventRequest, parse_request
    from edge_agent.storage.profiles import IdentityRequest
    from edge_agent.storage.tracking import TrackRequest

    env = parse_request(EventRequest, body)
    identity = IdentityRequest(uid=env.user.uid, device_id=env.device.id.lower() if env.device.id else None)
    sent = [{k: v for k, v in item.items() if v is not None} for item in body["data"]]
    return TrackRequest(
        spec=EVENT, sec=env.sec, identity=identity, body=body, page=env.ctx, ctx=env.ctx_data,
        events=env.data, sent_events=sent,
    )  # fmt: skip
