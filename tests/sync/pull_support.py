"""Helpers for the pull, watch and scheduler tests: bundles with a visible marker, the reference upstream on
loopback, and short reads of the agent's operator API."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from edge_agent.upstream_sim import create_upstream_app
from tests.helpers import envelope


def marker_bundle(demo: dict[str, Any], version: str, text: str | None = None) -> dict[str, Any]:
    """The demo bundle at ``version`` plus a campaign on selector ``marker`` whose content says ``text``:
    a ``/choose`` for ``marker`` shows which bundle answered."""
    bundle = copy.deepcopy(demo) | {"version": version}
    content = {
        "contentId": "cnt_marker",
        "deliveryMethod": "inline",
        "contentType": "text",
        "variables": {"text": text or f"from {version}"},
    }
    variation = {"variationId": "var_marker", "weight": 1, "contents": [content]}
    bundle["campaigns"].append(
        {
            "campaignId": "cmp_marker",
            "selector": "marker",
            "experiences": [{"experienceId": "exp_marker", "variations": [variation]}],
        }
    )
    return bundle


def write_version(sim_dir: Path, name: str, bundle: dict[str, Any]) -> None:
    directory = sim_dir / "bundles"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(json.dumps(bundle))


async def serve_upstream(aiohttp_server: Any, sim_dir: Path, *middlewares: Any) -> TestServer:
    """The reference upstream on loopback; ``middlewares`` run outside its own (test-only tweaks)."""
    app = create_upstream_app(sim_dir)
    for middleware in middlewares:
        app.middlewares.insert(0, middleware)
    server: TestServer = await aiohttp_server(app)
    return server


def upstream_url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


async def marker_text(client: TestClient) -> str | None:
    """What the active bundle's ``marker`` campaign says (None without one)."""
    response = await client.post("/choose", json=envelope(data=[{"selector": "marker"}]))
    assert response.status == 200
    data = (await response.json())["data"]
    if not data or not data[0]["payload"]:
        return None
    payload = data[0]["payload"]
    text: str = payload[0]["contents"][0]["variables"]["text"]
    return text


async def status(client: TestClient, **headers: str) -> dict[str, Any]:
    response = await client.get("/status", headers=headers)
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def admin_sync(client: TestClient, **headers: str) -> dict[str, Any]:
    response = await client.post("/admin/sync", headers=headers, json={})
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body
