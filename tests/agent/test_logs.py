"""Logs: a request id on every line of a request and in ``X-Request-Id``, ``text`` or ``json`` lines, an
access log only when asked for, and never a token or a body in it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient

from edge_agent.agent.keys import db_key
from edge_agent.agent.logs import configure_logging
from tests.conftest import MakeClient
from tests.helpers import envelope


@pytest.fixture
def log_lines(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Route the daemon's logging to the captured stderr for one test, then take it away again."""
    root = logging.getLogger()
    before = list(root.handlers), root.level
    yield
    for handler in root.handlers[:]:
        if handler not in before[0]:
            root.removeHandler(handler)
    root.setLevel(before[1])


async def test_every_response_carries_a_request_id(client: TestClient) -> None:
    first = await client.post("/visit", json=envelope())
    second = await client.get("/nope")
    kept = await client.get("/healthz", headers={"X-Request-Id": "trace-42.a:b"})
    replaced = await client.get("/healthz", headers={"X-Request-Id": "bad id\twith <markup>"})

    ids = [r.headers.get("X-Request-Id") for r in (first, second, kept, replaced)]

    assert all(ids) and ids[0] != ids[1]
    assert ids[2] == "trace-42.a:b"
    assert ids[3] != "bad id\twith <markup>" and " " not in (ids[3] or "")


async def test_json_access_log_line_per_request_without_token_or_body(
    make_client: MakeClient, log_lines: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "json")
    client = await make_client(auth={"api_keys": ["secret-key-1"]}, logging={"access_log": True})
    capsys.readouterr()

    response = await client.post(
        "/v2/visit?x=1",
        json=envelope(user={"email": "body-secret@x"}),
        headers={"Authorization": "Bearer secret-key-1"},
    )
    err = capsys.readouterr().err

    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "edge_agent.access"]
    assert response.status == 200
    assert len(access) == 1
    assert access[0]["requestId"] == response.headers["X-Request-Id"]
    assert (access[0]["method"], access[0]["route"], access[0]["status"]) == ("POST", "/visit", 200)
    assert access[0]["ms"] > 0
    assert "secret-key-1" not in err and "body-secret" not in err and "x=1" not in err


async def test_no_access_log_by_default_and_text_lines_carry_the_request_id(
    make_client: MakeClient, log_lines: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("debug", "text")
    client = await make_client()
    capsys.readouterr()
    db = client.app[db_key]
    await db.write(lambda conn: conn.execute("PRAGMA max_page_count = 1").fetchone())  # "disk full"

    response = await client.post("/event", json=envelope(data=[{"type": "note", "name": "x" * 100_000}]))
    logging.getLogger("edge_agent.test").info("outside any request")
    err = capsys.readouterr().err

    assert response.status == 503
    rid = response.headers["X-Request-Id"]
    warned = [line for line in err.splitlines() if "storage unavailable" in line]
    assert warned and all(f"[{rid}]:" in line for line in warned)
    assert "[-]: outside any request" in err
    assert "edge_agent.access" not in err
