"""The page for a person at the kiosk: state, queue, bundle and recent decisions, escaped."""

from __future__ import annotations

import copy
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import MakeClient
from tests.helpers import envelope


async def test_page_shows_state_queue_bundle_and_recent_decisions(client: TestClient) -> None:
    empty = await (await client.get("/")).text()
    assert "No decisions yet." in empty
    assert "none configured — running offline" in empty
    await client.post("/visit", json=envelope())
    await client.post("/choose", json=envelope(data=[{"group": "home_slider"}]))
    resp = await client.get("/")
    assert resp.status == 200 and resp.content_type == "text/html"
    page = await resp.text()
    assert ">offline</span>" in page
    assert "<tr><th>Waiting to sync</th><td>1</td></tr>" in page
    assert "demo-1 (demo)" in page
    assert "<td>cmp_slide_a</td>" in page and "<td>cmp_slide_b</td>" in page
    assert "No decisions yet." not in page


async def test_page_escapes_what_it_shows(make_client: MakeClient, demo_bundle: dict[str, Any]) -> None:
    bundle = copy.deepcopy(demo_bundle)
    bundle["version"] = "v<script>"
    slide = next(c for c in bundle["campaigns"] if c["campaignId"] == "cmp_slide_a")
    slide["campaignId"] = "cmp_<script>alert(1)</script>"
    client = await make_client(bundle=bundle)
    await client.post("/choose", json=envelope(data=[{"group": "home_slider"}]))
    page = await (await client.get("/")).text()
    assert "<script" not in page
    assert "cmp_&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "v&lt;script&gt;" in page
