"""Helpers for the pull, watch and scheduler tests: bundles with a visible marker and short reads of the
agent's operator API. The reference upstream itself is served by ``tests/conftest.py`` (``make_sim``,
``sim``, ``upstream``)."""

from __future__ import annotations

import copy
from typing import Any

from aiohttp.test_utils import TestClient

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
