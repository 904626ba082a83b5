"""Bad input gets the documented status and envelope, and nothing is written (agent-api §6)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import MakeClient
from tests.helpers import db_count, envelope

WRITE_TABLES = ("profiles", "sessions", "history", "outbox", "engagements")


def counts(db: Path) -> dict[str, int]:
    return {table: db_count(db, table) for table in WRITE_TABLES}


def assert_envelope(body: dict[str, Any], status: int, *needles: str) -> None:
    assert body["ok"] is False
    assert body["status"] == status
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["errors"], list) and body["errors"]
    joined = " | ".join(body["errors"])
    for needle in needles:
        assert needle in joined, joined


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "agent.db"


CASES = [
    ("/visit", b"{not json", 422, ["body: not valid JSON"]),
    ("/visit", b"[1, 2]", 422, ["body: expected a JSON object"]),
    ("/visit", b"", 422, ["body: empty"]),
    ("/visit", b'{"user": {}}', 422, ["sec: Field required"]),
    ("/event", b'{"sec": "s", "data": []}', 422, ["data: List should have at least 1 item"]),
    ("/event", b'{"sec": "s"}', 422, ["data: Field required"]),
    ("/event", b'{"sec": "s", "data": "purchase"}', 422, ["data: Input should be a valid list"]),
    ("/event", b'{"sec": "s", "data": [{"name": "x"}]}', 422, ["data.0.type: Field required"]),
    ("/event", b'{"sec": "s", "data": [{"type": "x", "value": "lots"}]}', 422, ["data.0.value:"]),
    ("/event", b'{"sec": "s", "data": [{"type": 5}]}', 422, ["data.0.type:"]),
    ("/choose", b'{"sec": "s", "data": {"selector": "a"}}', 422, ["data: Input should be a valid list"]),
    ("/strategy", b'{"sec": "s", "data": [{"pageSize": 3}]}', 422, ["data.0.strategyId: Field required"]),
    ("/visit", b'{"sec": "s", "ctx": {"data": "sku-1"}}', 422, ["ctx.data:"]),
    ("/visit", b'{"sec": {"a": 1}}', 422, ["sec:"]),
]


@pytest.mark.parametrize(("path", "body", "status", "needles"), CASES)
async def test_bad_bodies_are_rejected_and_nothing_is_written(
    client: TestClient, db_path: Path, path: str, body: bytes, status: int, needles: list[str]
) -> None:
    before = counts(db_path)
    resp = await client.post(path, data=body, headers={"Content-Type": "application/json"})
    assert resp.status == status
    assert resp.content_type == "application/json"
    assert_envelope(await resp.json(), status, *needles)
    assert counts(db_path) == before


async def test_two_mib_body_is_413_and_nothing_written(client: TestClient, db_path: Path) -> None:
    before = counts(db_path)
    padding = "x" * (2 * 1024 * 1024)
    body = json.dumps(envelope(data=[{"type": "big", "name": padding}])).encode()
    resp = await client.post("/event", data=io.BytesIO(body), headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert_envelope(await resp.json(), 413, "body:")
    assert counts(db_path) == before


async def test_chunked_body_over_the_limit_is_413(client: TestClient, db_path: Path) -> None:
    before = counts(db_path)

    async def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 65536

    resp = await client.post("/visit", data=chunks(), headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert_envelope(await resp.json(), 413, "body:")
    assert counts(db_path) == before


async def test_bad_token_is_403_and_nothing_written(make_client: MakeClient, db_path: Path) -> None:
    client = await make_client(auth={"api_keys": ["k-good"]})
    before = counts(db_path)
    for headers in ({"Authorization": "Bearer k-bad"}, {}):
        resp = await client.post("/visit", json=envelope(), headers=headers)
        assert resp.status == 403
        assert_envelope(await resp.json(), 403, "Authorization")
    resp = await client.get(
        "/engagement?type=WIMP&decisionId=gf:s:u:1", headers={"Authorization": "Bearer no"}
    )
    assert resp.status == 403
    assert counts(db_path) == before
    ok = await client.post("/visit", json=envelope(), headers={"Authorization": "Bearer k-good"})
    assert ok.status == 200


async def test_section_outside_auth_sections_is_403(make_client: MakeClient, db_path: Path) -> None:
    client = await make_client(auth={"sections": ["sec-a"]})
    before = counts(db_path)
    resp = await client.post("/visit", json={**envelope(), "sec": "sec-b"})
    assert resp.status == 403
    assert_envelope(await resp.json(), 403, "sec")
    assert counts(db_path) == before
    assert (await client.post("/visit", json={**envelope(), "sec": "sec-a"})).status == 200


async def test_engagement_without_type_or_decision_is_422(client: TestClient, db_path: Path) -> None:
    before = counts(db_path)
    resp = await client.get("/v2/engagement?contentId=c1")
    assert resp.status == 422
    assert_envelope(await resp.json(), 422, "query.type", "query.decisionId")
    assert counts(db_path) == before


async def test_unknown_route_and_wrong_method(client: TestClient) -> None:
    resp = await client.post("/nope", json={})
    assert resp.status == 404
    assert_envelope(await resp.json(), 404, "path")
    resp = await client.get("/visit")
    assert resp.status == 405
    assert (await resp.json())["ok"] is False


async def test_choose_items_without_identifier_get_no_entry_not_422(client: TestClient) -> None:
    body = envelope(data=[{"selector": None, "option": None}, {"option": {"skusOnly": False}}, "junk"])
    resp = await client.post("/choose", json=body)
    assert resp.status == 200
    answer = await resp.json()
    assert answer["data"] == []
    assert isinstance(answer["user"]["uid"], str) and isinstance(answer["user"]["ses"], str)
