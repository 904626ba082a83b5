"""``/metrics`` tells the truth: the status sent (not a default 500), bounded route labels, latency by
status class, process and build series; output that ``promtool check metrics`` accepts."""

from __future__ import annotations

import asyncio
import re
import subprocess

from aiohttp.test_utils import TestClient

from edge_agent import __version__
from edge_agent.agent.keys import activity_key
from tests.conftest import MakeClient
from tests.helpers import envelope, require_binary


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in an exposition, labels matched exactly (in any order)."""
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if found == labels:
            return float(match.group(3))
    return None


async def scrape(client: TestClient) -> str:
    response = await client.get("/metrics")
    assert response.status == 200
    return await response.text()


async def test_a_422_counts_as_422_and_a_403_as_403(make_client: MakeClient) -> None:
    client = await make_client(auth={"api_keys": ["k1"]})
    auth = {"Authorization": "Bearer k1"}

    bad = await client.post("/visit", json={"ctx": "not an object"}, headers=auth)
    refused = await client.post("/visit", json=envelope(), headers={"Authorization": "Bearer nope"})
    good = await client.post("/visit", json=envelope(), headers=auth)
    text = await scrape(client)

    assert (bad.status, refused.status, good.status) == (422, 403, 200)
    assert sample(text, "edge_agent_requests_total", route="/visit", status="422") == 1
    assert sample(text, "edge_agent_requests_total", route="/visit", status="403") == 1
    assert sample(text, "edge_agent_requests_total", route="/visit", status="200") == 1
    assert sample(text, "edge_agent_requests_total", route="/visit", status="500") is None
    assert sample(text, "edge_agent_request_seconds_count", route="/visit", status_class="4xx") == 2
    assert sample(text, "edge_agent_request_seconds_count", route="/visit", status_class="2xx") == 1


async def test_unknown_paths_share_one_label(client: TestClient) -> None:
    for path in ("/favicon.ico", "/zzz-test-404", "/v2/nope", "/admin/../etc"):
        assert (await client.get(path)).status == 404
    assert (await client.post("/v2/status", json={})).status == 404  # /status is not an SDK route

    text = await scrape(client)

    assert sample(text, "edge_agent_requests_total", route="unmatched", status="404") == 5
    assert "favicon" not in text and "zzz" not in text


async def test_a_known_path_with_another_method_is_a_405_of_its_route(client: TestClient) -> None:
    sdk = await client.get("/visit")
    sdk_v2 = await client.put("/v2//visit", json={})
    fixed = await client.post("/status", json={})  # reaches the SDK catch-all: still the /status path

    text = await scrape(client)

    assert (sdk.status, sdk_v2.status, fixed.status) == (405, 405, 405)
    assert sdk.headers["Allow"] == "POST" and fixed.headers["Allow"] == "GET"
    assert (await fixed.json())["status"] == 405
    assert sample(text, "edge_agent_requests_total", route="/visit", status="405") == 2
    assert sample(text, "edge_agent_requests_total", route="/status", status="405") == 1
    assert sample(text, "edge_agent_requests_total", route="unmatched", status="405") is None


async def test_process_and_build_series(client: TestClient) -> None:
    text = await scrape(client)

    assert (sample(text, "process_resident_memory_bytes") or 0) > 0
    assert (sample(text, "process_open_fds") or 0) > 0
    build = [line for line in text.splitlines() if line.startswith("edge_agent_build_info{")]
    assert len(build) == 1 and f'version="{__version__}"' in build[0] and build[0].endswith(" 1.0")


async def test_promtool_accepts_the_exposition(client: TestClient) -> None:
    promtool = require_binary("promtool")
    await client.post("/visit", json={"ctx": []})
    text = await scrape(client)

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
        )

    result = await asyncio.to_thread(check)

    assert result.returncode == 0, result.stdout + result.stderr
    # promtool lints too (naming, help text): the exposition should carry no complaint at all.
    assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stdout + result.stderr


async def test_activity_counts_the_app_not_the_operator(client: TestClient) -> None:
    for _ in range(3):
        assert (await client.post("/event", json=envelope(data=[{"type": "VIEW", "data": {}}]))).status
    await client.get("/status")
    await client.get("/metrics")

    activity = client.app[activity_key]

    assert activity.last is not None and activity.last.route == "/event"
    assert sum(activity.per_minute(activity.clock.now(), 5)) == 3
