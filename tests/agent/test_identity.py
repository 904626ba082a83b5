"""Identity resolution and session rotation (agent-api §3), through the real routes."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from edge_agent.clock import ManualClock
from tests.conftest import MakeClient
from tests.helpers import envelope


async def post(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post(path, json=body)
    assert resp.status == 200, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def test_new_profile_gets_24_hex_uid_and_uuid4_session(client: TestClient) -> None:
    user = (await post(client, "/visit", envelope()))["user"]
    assert re.fullmatch(r"[0-9a-f]{24}", user["uid"])
    assert uuid.UUID(user["ses"]).version == 4


async def test_parallel_cold_start_from_one_device_shares_one_uid_and_session(client: TestClient) -> None:
    bodies = [envelope(device_id="COLD-DEVICE") for _ in range(6)]
    bodies += [envelope(device_id="cold-device", data=[{"selector": "home_banner"}]) for _ in range(4)]
    paths = ["/visit"] * 6 + ["/choose"] * 4
    answers = await asyncio.gather(*(post(client, p, b) for p, b in zip(paths, bodies, strict=True)))
    assert len({a["user"]["uid"] for a in answers}) == 1
    assert len({a["user"]["ses"] for a in answers}) == 1


async def test_relaunch_without_ses_keeps_uid_and_gets_new_session(
    client: TestClient, clock: ManualClock
) -> None:
    first = (await post(client, "/visit", envelope()))["user"]
    clock.advance(60)  # past the cold-start window
    again = (await post(client, "/visit", envelope({"uid": first["uid"]})))["user"]
    assert again["uid"] == first["uid"]
    assert again["ses"] != first["ses"]


async def test_warm_call_keeps_session_until_idle_timeout(client: TestClient, clock: ManualClock) -> None:
    first = (await post(client, "/visit", envelope()))["user"]
    clock.advance(29 * 60)
    warm = (await post(client, "/event", envelope(first, data=[{"type": "tap", "name": "Tap"}])))["user"]
    assert warm == first
    clock.advance(31 * 60)  # 31 idle minutes since the last call
    rotated = (await post(client, "/visit", envelope(first)))["user"]
    assert rotated["uid"] == first["uid"]
    assert rotated["ses"] != first["ses"]


async def test_unknown_uid_is_adopted_and_bad_uid_ignored(client: TestClient) -> None:
    adopted = (await post(client, "/visit", envelope({"uid": "central-uid-42"}, device_id="d-a")))["user"]
    assert adopted["uid"] == "central-uid-42"
    ignored = (await post(client, "/visit", envelope({"uid": "x" * 129}, device_id="d-b")))["user"]
    assert ignored["uid"] != "x" * 129 and len(ignored["uid"]) == 24
    numeric = (await post(client, "/visit", envelope({"uid": 12345}, device_id="d-c")))["user"]
    assert numeric["uid"] == "12345"


async def test_unknown_or_foreign_session_is_replaced(client: TestClient) -> None:
    a = (await post(client, "/visit", envelope(device_id="dev-a")))["user"]
    b = (await post(client, "/visit", envelope(device_id="dev-b")))["user"]
    stolen = (await post(client, "/visit", envelope({"uid": a["uid"], "ses": b["ses"]}, device_id="dev-a")))[
        "user"
    ]
    assert stolen["uid"] == a["uid"] and stolen["ses"] not in (a["ses"], b["ses"])
    unknown = await post(client, "/visit", envelope({"uid": a["uid"], "ses": "no-such"}, device_id="dev-a"))
    assert unknown["user"]["ses"] != "no-such"


async def test_custom_user_attaches_to_device_profile_and_honours_app_session(client: TestClient) -> None:
    anon = (await post(client, "/visit", envelope(device_id="kiosk-7")))["user"]
    custom = await post(
        client, "/visit", envelope({"custom": "crm-42", "ses": "app-sess-9"}, device_id="kiosk-7")
    )
    assert custom["user"] == {"uid": anon["uid"], "ses": "app-sess-9"}
    # The same custom id from another device resolves to the same profile.
    elsewhere = await post(
        client, "/event", envelope({"custom": "crm-42"}, device_id="pos-2", data=[{"type": "x"}])
    )
    assert elsewhere["user"]["uid"] == anon["uid"]


async def test_custom_id_never_steals_a_profile_with_another_custom_id(client: TestClient) -> None:
    first = (await post(client, "/visit", envelope({"custom": "crm-1"}, device_id="shared")))["user"]
    second = (await post(client, "/visit", envelope({"custom": "crm-2"}, device_id="shared")))["user"]
    assert first["uid"] != second["uid"]


async def test_device_ids_compare_case_insensitively(client: TestClient) -> None:
    upper = (await post(client, "/visit", envelope(device_id="6F1C2A3B-7D8E-4F90-A1B2-C3D4E5F60718")))["user"]
    lower = (await post(client, "/visit", envelope(device_id="6f1c2a3b-7d8e-4f90-a1b2-c3d4e5f60718")))["user"]
    assert upper == lower


async def test_user_route_merges_and_deletes_attributes(client: TestClient) -> None:
    body = envelope({"attributes": {"tier": "gold", "age": 41, "vip": True}})
    first = (await post(client, "/user", body))["user"]
    assert first["attributes"] == {"tier": "gold", "age": "41", "vip": "true"}
    assert set(first) >= {"uid", "ses", "attributes", "segments", "details"}
    changed = await post(
        client, "/user", envelope({"uid": first["uid"], "attributes": {"tier": None, "x": "1"}})
    )
    assert changed["user"]["attributes"] == {"age": "41", "vip": "true", "x": "1"}


async def test_is_new_only_during_first_session(make_client: MakeClient, clock: ManualClock) -> None:
    client = await make_client()
    opts = {"isReturnUserInfo": True}
    first = (await post(client, "/visit", envelope(options=opts)))["user"]
    assert first["details"]["isNew"] is True
    clock.advance(3600)
    later = (await post(client, "/visit", envelope({"uid": first["uid"]}, options=opts)))["user"]
    assert later["details"]["isNew"] is False
