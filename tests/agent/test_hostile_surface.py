"""The attacks of the threat model (docs/security.md) on the agent's surface, as a hostile page, app or
neighbour would make them.

Each is refused with the documented status (docs/security.md) in the JSON envelope, and the queue and the
bundle are unchanged afterwards. A control request then shows the same body would have worked through the
front door, so a refusal is not an accident of the body.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from edge_agent.cli import main
from tests.conftest import MakeClient
from tests.helpers import db_rows, envelope, non_loopback_address

EVIL = "http://evil.example"
PURGE = json.dumps({"state": "pending"}).encode()


def snapshot(db: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every queue row and both bundle slots, as they are in the SQLite file."""
    queue = [tuple(r) for r in db_rows(db, "SELECT id, seq, state, body FROM outbox ORDER BY seq")]
    bundles = [tuple(r) for r in db_rows(db, "SELECT slot, version, body FROM bundles ORDER BY slot")]
    return queue, bundles


def refused(body: dict[str, Any], status: int, needle: str) -> None:
    assert body["ok"] is False and body["status"] == status, body
    assert any(needle in e for e in body["errors"]), body


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "agent.db"


async def kiosk(make_client: MakeClient, **overrides: Any) -> TestClient:
    """The agent as shipped (loopback, no admin token) with three acknowledged, pending writes."""
    client = await make_client(**overrides)
    for n in range(3):
        assert (await client.post("/visit", json=envelope(device_id=f"kiosk-{n}"))).status == 200
    return client


def swapped(bundle: dict[str, Any]) -> bytes:
    evil = copy.deepcopy(bundle)
    evil["version"] = "phish-1"
    return json.dumps(evil).encode()


async def test_text_plain_purge_from_an_evil_origin_is_refused(make_client: MakeClient, db: Path) -> None:
    client = await kiosk(make_client)
    before = snapshot(db)

    from_page = await client.post(
        "/admin/queue/purge", data=PURGE, headers={"Content-Type": "text/plain", "Origin": EVIL}
    )
    refused(await from_page.json(), 403, "Origin")
    no_origin = await client.post("/admin/queue/purge", data=PURGE, headers={"Content-Type": "text/plain"})
    refused(await no_origin.json(), 415, "Content-Type")
    no_type = await client.post("/admin/queue/purge", data=PURGE, headers={"Content-Type": ""})
    assert no_type.status == 415
    assert snapshot(db) == before and len(before[0]) == 3

    control = await client.post("/admin/queue/purge", json={"state": "pending"})
    assert (await control.json())["purged"] == 3


async def test_form_and_multipart_posts_are_refused(make_client: MakeClient, db: Path) -> None:
    client = await kiosk(make_client)
    before = snapshot(db)
    form = await client.post("/admin/queue/purge", data={"state": "pending"})
    assert form.request_info.headers["Content-Type"] == "application/x-www-form-urlencoded"
    refused(await form.json(), 415, "Content-Type")
    multipart = FormData()
    multipart.add_field("state", "pending")
    multipart.add_field("file", PURGE, filename="x.json", content_type="application/json")
    resp = await client.post("/admin/queue/purge", data=multipart)
    refused(await resp.json(), 415, "multipart/form-data")
    form_visit = await client.post("/visit", data={"sec": "demo"}, headers={"Origin": EVIL})
    refused(await form_visit.json(), 403, "Origin")
    assert snapshot(db) == before


async def test_a_bundle_swap_from_a_page_is_refused(
    make_client: MakeClient, db: Path, demo_bundle: dict[str, Any]
) -> None:
    client = await kiosk(make_client)
    before = snapshot(db)
    body = swapped(demo_bundle)
    for headers, status in (
        ({"Content-Type": "text/plain", "Origin": EVIL}, 403),
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403),
        ({"Content-Type": "application/json", "Origin": "null"}, 403),  # a sandboxed frame or file://
    ):
        resp = await client.post("/admin/bundle", data=body, headers=headers)
        assert resp.status == status, headers
        assert (await resp.json())["ok"] is False
    assert snapshot(db) == before

    control = await client.post("/admin/bundle", data=body, headers={"Content-Type": "application/json"})
    assert (await control.json())["version"] == "phish-1"


async def test_a_rebinding_host_reads_nothing(make_client: MakeClient, db: Path) -> None:
    client = await kiosk(make_client)
    before = snapshot(db)
    uid = (await (await client.post("/visit", json=envelope(device_id="k"))).json())["user"]["uid"]
    before = snapshot(db)
    evil = {"Host": "evil.example:8787"}
    for method, path, body in (
        ("GET", "/admin/queue", None),
        ("GET", "/status", None),
        ("GET", "/", None),
        ("POST", "/user", envelope(user={"uid": uid})),
        ("POST", "/v2/user", envelope(user={"uid": uid})),
    ):
        resp = await client.request(method, path, json=body, headers=evil)
        assert resp.status == 421, path
        refused(await resp.json(), 421, "Host")
        assert uid not in await resp.text()
    assert snapshot(db) == before

    for host in ("localhost:8787", "127.0.0.1", "[::1]:8787", "LOCALHOST."):
        assert (await client.get("/healthz", headers={"Host": host})).status == 200, host


async def test_configured_hosts_and_the_public_url_are_answered(make_client: MakeClient) -> None:
    client = await make_client(
        server={"allowed_hosts": ["kiosk-7.store.example"], "public_url": "http://agent.store.example:8787"}
    )
    for host in ("kiosk-7.store.example:8787", "agent.store.example", "agent.store.example:8787"):
        assert (await client.get("/healthz", headers={"Host": host})).status == 200, host
    assert (await client.get("/healthz", headers={"Host": "store.example"})).status == 421


async def test_api_keys_without_admin_token_keep_operator_routes_on_loopback(
    make_client: MakeClient, db: Path
) -> None:
    address = non_loopback_address()
    settings = {"server": {"host": "0.0.0.0"}, "auth": {"api_keys": ["sdk-key"]}}
    neighbour = await make_client(listen=address, **settings)
    sdk = {"Authorization": "Bearer sdk-key"}
    assert (await neighbour.post("/visit", json=envelope(), headers=sdk)).status == 200
    before = snapshot(db)
    for method, path, body in (
        ("GET", "/admin/queue", None),
        ("GET", "/status", None),
        ("GET", "/metrics", None),
        ("GET", "/", None),
        ("POST", "/admin/queue/purge", {"state": "pending"}),
        ("POST", "/admin/bundle", {"version": "x"}),
    ):
        resp = await neighbour.request(method, path, json=body, headers=sdk)
        assert resp.status == 403, path
        refused(await resp.json(), 403, "admin_token")
    assert snapshot(db) == before and len(before[0]) == 1

    # The same agent's operator routes answer a caller on this device, and its status page too.
    local = await make_client(**settings)
    assert (await local.get("/admin/queue")).status == 200
    assert (await local.get("/")).status == 200


async def test_with_an_admin_token_every_caller_needs_it_except_the_page_on_loopback(
    make_client: MakeClient,
) -> None:
    settings = {"auth": {"api_keys": ["sdk-key"]}, "server": {"admin_token": "op-secret"}}
    local = await make_client(**settings)
    admin = {"Authorization": "Bearer op-secret"}
    assert (await local.get("/admin/queue")).status == 403
    assert (await local.get("/admin/queue", headers=admin)).status == 200
    assert (await local.get("/")).status == 200
    remote = await make_client(listen=non_loopback_address(), **settings)
    assert (await remote.get("/")).status == 403
    assert (await remote.get("/", headers=admin)).status == 200
    assert (await remote.get("/status", headers=admin)).status == 200


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EDGE_AGENT_AUTH__API_KEYS", '[""]'),
        ("EDGE_AGENT_AUTH__API_KEYS", '["key-1", "   "]'),
        ("EDGE_AGENT_SERVER__ADMIN_TOKEN", " "),
        ("EDGE_AGENT_UPSTREAM__API_KEY", ""),
        ("EDGE_AGENT_UPSTREAM__SECTION_KEYS", '{"s1": "\\t"}'),
    ],
)
@pytest.mark.parametrize("command", ["check-config", "serve"])
def test_blank_keys_and_tokens_are_a_config_error(
    command: str, variable: str, value: str, tmp_path: Path
) -> None:
    env = {variable: value, "EDGE_AGENT_SERVER__HOST": "0.0.0.0"}
    env["EDGE_AGENT_STORAGE__PATH"] = str(tmp_path / "a.db")
    if variable != "EDGE_AGENT_AUTH__API_KEYS":
        env["EDGE_AGENT_AUTH__API_KEYS"] = '["key-1"]'
    result = CliRunner().invoke(main, [command], env=env)
    assert result.exit_code == 2, result.output
    key = variable.removeprefix("EDGE_AGENT_").replace("__", ".").lower()
    assert key in result.stderr and "blank" in result.stderr
    assert not (tmp_path / "a.db").exists()  # nothing was served


SDK_CONTENT_TYPES = [
    "application/json",  # Flutter (Dio, implied for Map bodies), iOS (set explicitly)
    "application/json; charset=UTF-8",  # Android (Ktor adds the charset of a text body)
    "application/json; charset=utf-8",
    "application/vnd.edge+json",
]


@pytest.mark.parametrize("content_type", SDK_CONTENT_TYPES)
async def test_every_json_content_type_the_sdks_send_is_accepted(
    make_client: MakeClient, content_type: str
) -> None:
    client = await make_client()
    body = json.dumps(envelope()).encode()
    resp = await client.post("/v2//visit", data=body, headers={"Content-Type": content_type})
    assert resp.status == 200 and (await resp.json())["user"]["uid"]


async def test_cors_is_off_unless_configured(make_client: MakeClient) -> None:
    client = await make_client()
    preflight = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    resp = await client.options("/visit", headers=preflight)
    assert resp.status == 403 and "Access-Control-Allow-Origin" not in resp.headers
    visit = await client.post("/visit", json=envelope(), headers={"Origin": "https://shop.example"})
    assert visit.status == 403 and "Access-Control-Allow-Origin" not in visit.headers


async def test_a_configured_origin_reaches_the_sdk_routes_only(make_client: MakeClient, db: Path) -> None:
    client = await kiosk(make_client, server={"cors_origins": ["https://shop.example"]})
    origin = {"Origin": "https://shop.example"}
    preflight = await client.options("/v2/visit", headers={**origin, "Access-Control-Request-Method": "POST"})
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]
    visit = await client.post("/visit", json=envelope(), headers={**origin, "Sec-Fetch-Site": "cross-site"})
    assert visit.status == 200 and visit.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    bad = await client.post("/visit", data=b"{}", headers={**origin, "Content-Type": "text/plain"})
    assert bad.status == 415 and bad.headers["Access-Control-Allow-Origin"] == "https://shop.example"

    before = snapshot(db)
    admin_preflight = await client.options(
        "/admin/queue/purge", headers={**origin, "Access-Control-Request-Method": "POST"}
    )
    assert admin_preflight.status == 403
    purge = await client.post("/admin/queue/purge", json={"state": "pending"}, headers=origin)
    assert purge.status == 403 and "Access-Control-Allow-Origin" not in purge.headers
    assert snapshot(db) == before


async def test_the_agents_own_origin_passes(make_client: MakeClient) -> None:
    client = await kiosk(make_client)
    own = str(client.make_url("")).rstrip("/")
    resp = await client.post("/admin/queue/retry", json={"all": True}, headers={"Origin": own})
    assert resp.status == 200


# --- the acceptance table: every attack, its documented status, and nothing changed --------------------


def nested_json(levels: int) -> str:
    return "[" * (levels - 1) + '{"a": 1}' + "]" * (levels - 1)


def sdk_body(**extra: Any) -> bytes:
    return json.dumps(envelope(user={"uid": "victim"}, **extra)).encode()


def deep_attributes(levels: int) -> bytes:
    body = json.dumps(envelope(user={"uid": "victim", "attributes": {"a": "@@"}}))
    return body.replace('"@@"', nested_json(levels)).encode()


def deep_extra(levels: int) -> bytes:
    return json.dumps(envelope(extra="@@")).replace('"@@"', nested_json(levels)).encode()


HUGE_CART = [{"type": "add-to-cart-v1", "productId": "sku-1001", "quantity": 1e308}] * 2
JSON_TYPE = {"Content-Type": "application/json"}
TEXT_FROM_PAGE = {"Content-Type": "text/plain", "Origin": EVIL}
REBOUND = {**JSON_TYPE, "Host": "evil.example:8787"}
SDK_KEY = {**JSON_TYPE, "Authorization": "Bearer sdk-key"}
DEEP_BUNDLE = "<deep bundle>"  # replaced by the demo bundle with content nested 300 levels deep
SWAP = "<bundle swap>"  # replaced by the demo bundle under another version

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CROSS_SITE_FETCH = {**JSON_TYPE, "Sec-Fetch-Site": "cross-site"}
PURGE_PATH = "/admin/queue/purge"
TOKEN = "admin_token"


def attack(
    name: str,
    path: str,
    headers: dict[str, str],
    body: bytes | str,
    status: int,
    needle: str,
    *,
    method: str = "POST",
    caller: str = "kiosk",
) -> Any:
    """One row of the table: what is sent, by whom, and the refusal it must get (``needle`` in an error)."""
    return pytest.param(caller, method, path, headers, body, status, needle, id=name)


ATTACKS = [
    attack("purge text/plain from a page", PURGE_PATH, TEXT_FROM_PAGE, PURGE, 403, "Origin"),
    attack("purge text/plain", PURGE_PATH, {"Content-Type": "text/plain"}, PURGE, 415, "Content-Type"),
    attack("purge as a form post", PURGE_PATH, FORM, b"state=pending", 415, "Content-Type"),
    attack("purge, cross-site fetch", PURGE_PATH, CROSS_SITE_FETCH, PURGE, 403, "Sec-Fetch-Site"),
    attack("purge from a sandboxed frame", PURGE_PATH, {**JSON_TYPE, "Origin": "null"}, PURGE, 403, "Origin"),
    attack("bundle swap from a page", "/admin/bundle", TEXT_FROM_PAGE, SWAP, 403, "Origin"),
    attack("bundle swap as a form post", "/admin/bundle", FORM, SWAP, 415, "Content-Type"),
    attack("rebound page reads the queue", "/admin/queue", REBOUND, b"", 421, "Host", method="GET"),
    attack("rebound page reads /user", "/user", REBOUND, sdk_body(), 421, "Host"),
    attack("rebound page reads /v2/user", "/v2/user", REBOUND, sdk_body(), 421, "Host"),
    attack("rebound page purges", PURGE_PATH, REBOUND, PURGE, 421, "Host"),
    attack("neighbour reads the queue", "/admin/queue", SDK_KEY, b"", 403, TOKEN, method="GET", caller="lan"),
    attack("neighbour purges", PURGE_PATH, SDK_KEY, PURGE, 403, "admin_token", caller="lan"),
    attack("neighbour swaps the bundle", "/admin/bundle", SDK_KEY, SWAP, 403, "admin_token", caller="lan"),
    attack("neighbour reads /status", "/status", SDK_KEY, b"", 403, TOKEN, method="GET", caller="lan"),
    attack("1e308 cart", "/event", JSON_TYPE, sdk_body(data=HUGE_CART), 422, "data.0.quantity"),
    attack("deep JSON on /visit", "/visit", JSON_TYPE, deep_extra(254), 422, "extra"),
    attack("deep JSON past the parser", "/event", JSON_TYPE, deep_extra(1100), 422, "body"),
    attack("deep attributes on /user", "/user", JSON_TYPE, deep_attributes(985), 422, "user.attributes"),
    attack("deep bundle", "/admin/bundle", JSON_TYPE, DEEP_BUNDLE, 422, "nested deeper than"),
]  # fmt: skip


def state(db: Path) -> tuple[Any, ...]:
    """The queue rows, both bundle slots and every profile's stored state, as the file holds them."""
    profiles = [tuple(r) for r in db_rows(db, "SELECT * FROM profile_state ORDER BY uid")]
    return (*snapshot(db), profiles)


@pytest.mark.parametrize(("caller", "method", "path", "headers", "body", "status", "needle"), ATTACKS)
async def test_every_attack_is_refused_and_changes_nothing(
    make_client: MakeClient,
    db: Path,
    demo_bundle: dict[str, Any],
    caller: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | str,
    status: int,
    needle: str,
) -> None:
    if caller == "kiosk":
        client = await kiosk(make_client)
    else:
        client = await make_client(
            listen=non_loopback_address(), server={"host": "0.0.0.0"}, auth={"api_keys": ["sdk-key"]}
        )
        assert (await client.post("/visit", json=envelope(), headers=SDK_KEY)).status == 200
    if body == SWAP:
        body = swapped(demo_bundle)
    elif body == DEEP_BUNDLE:
        body = swapped(demo_bundle).replace(
            b'"contentId"', b'"deep": ' + nested_json(300).encode() + b', "contentId"', 1
        )
    assert isinstance(body, bytes)
    uids = {row["uid"] for row in db_rows(db, "SELECT uid FROM profiles")}
    before = state(db)

    resp = await client.request(method, path, data=body or None, headers=headers)

    refused(await resp.json(), status, needle)
    assert resp.status == status and resp.content_type == "application/json"
    text = await resp.text()
    assert not any(uid in text for uid in uids)
    assert state(db) == before and len(before[0]) >= 1
    assert (await client.get("/healthz")).status == 200  # and the agent serves on
