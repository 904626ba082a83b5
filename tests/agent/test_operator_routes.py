"""Operator routes matching the CLI: queue inspection, retry/purge, bundle load, pause lift."""

from __future__ import annotations

import copy
import sqlite3
from typing import Any

from aiohttp.test_utils import TestClient

from edge_agent.agent.keys import db_key
from tests.conftest import MakeClient
from tests.helpers import envelope, non_loopback_address

ADMIN = {"Authorization": "Bearer admin-secret"}


async def admin_client(make_client: MakeClient) -> TestClient:
    return await make_client(server={"admin_token": "admin-secret"})


async def kill_rows(client: TestClient, n: int) -> list[str]:
    def write(conn: sqlite3.Connection) -> list[str]:
        ids = [r[0] for r in conn.execute("SELECT id FROM outbox ORDER BY seq LIMIT ?", (n,))]
        conn.executemany(
            "UPDATE outbox SET state = 'dead', last_status = 422, last_error = 'bad' WHERE id = ?",
            [(i,) for i in ids],
        )
        return ids

    return await client.app[db_key].write(write)


async def test_operator_routes_need_the_admin_token(make_client: MakeClient) -> None:
    client = await admin_client(make_client)
    for method, path in (
        ("GET", "/admin/queue"),
        ("POST", "/admin/queue/retry"),
        ("POST", "/admin/queue/purge"),
        ("POST", "/admin/bundle"),
        ("POST", "/admin/sync/resume"),
        ("GET", "/status"),
    ):
        resp = await client.request(method, path, headers={"Authorization": "Bearer nope"}, json={})
        assert resp.status == 403, path
    assert (await client.get("/healthz")).status == 200  # liveness stays open


async def test_queue_listing_retry_and_purge(make_client: MakeClient) -> None:
    client = await admin_client(make_client)
    for n in range(4):
        await client.post("/visit", json=envelope(device_id=f"d{n}"))
    listing = await (await client.get("/admin/queue?state=pending&limit=2", headers=ADMIN)).json()
    assert listing["summary"]["pending"] == 4 and len(listing["rows"]) == 2
    assert all(r["state"] == "pending" and r["path"] == "/visit" for r in listing["rows"])

    dead = await kill_rows(client, 3)
    bad = await client.get("/admin/queue?state=lost", headers=ADMIN)
    assert bad.status == 422 and "state" in (await bad.json())["errors"][0]
    retried = await (await client.post("/admin/queue/retry", json={"ids": dead[:1]}, headers=ADMIN)).json()
    assert retried["retried"] == 1
    refused = await client.post("/admin/queue/retry", json={}, headers=ADMIN)
    assert refused.status == 422
    purged = await (await client.post("/admin/queue/purge", json={"state": "dead"}, headers=ADMIN)).json()
    assert purged["purged"] == 2
    summary = (await (await client.get("/admin/queue", headers=ADMIN)).json())["summary"]
    assert (summary["pending"], summary["dead"]) == (2, 0)


async def test_bundle_load_swaps_or_lists_every_problem(
    make_client: MakeClient, demo_bundle: dict[str, Any]
) -> None:
    client = await admin_client(make_client)
    good = copy.deepcopy(demo_bundle)
    good["version"] = "ops-2"
    resp = await client.post("/admin/bundle", json=good, headers=ADMIN)
    assert resp.status == 200 and (await resp.json())["version"] == "ops-2"
    bad = copy.deepcopy(demo_bundle)
    bad["version"] = "ops-3"
    bad["campaigns"][0]["priority"] = "high"
    bad["strategies"][0]["type"] = "magic"
    resp = await client.post("/admin/bundle", json=bad, headers=ADMIN)
    assert resp.status == 422
    errors = (await resp.json())["errors"]
    assert any(e.startswith("campaigns.0.priority") for e in errors)
    assert any(e.startswith("strategies.0.type") for e in errors)
    status = await (await client.get("/status", headers=ADMIN)).json()
    assert status["bundle"]["version"] == "ops-2" and status["bundle"]["source"] == "admin"


async def test_resume_without_pauses_and_metrics_names(make_client: MakeClient) -> None:
    client = await admin_client(make_client)
    resumed = await (await client.post("/admin/sync/resume?sec=s1", headers=ADMIN, json={})).json()
    assert resumed == {"ok": True, "resumed": [], "paused": {}}
    text = await (await client.get("/metrics", headers=ADMIN)).text()
    for name in ("edge_agent_pruned_total", "edge_agent_delivered_total", "edge_agent_requests_total"):
        assert name in text


async def test_status_page_is_open_on_loopback_and_needs_the_token_from_elsewhere(
    make_client: MakeClient,
) -> None:
    client = await admin_client(make_client)
    assert (await client.get("/")).status == 200  # a person at the kiosk: loopback, no token
    remote = await make_client(listen=non_loopback_address(), server={"admin_token": "admin-secret"})
    assert (await remote.get("/")).status == 403
    assert (await remote.get("/", headers=ADMIN)).status == 200


async def test_status_page_opens_on_loopback_whatever_the_api_keys(make_client: MakeClient) -> None:
    client = await make_client(auth={"api_keys": ["sdk-key"]})
    page = await client.get("/")
    assert page.status == 200 and "text/html" in page.headers["Content-Type"]
