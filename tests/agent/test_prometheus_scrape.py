"""A real Prometheus server scrapes the agent on loopback, and its query API reads back what happened:
the 422 of a bad ``/visit`` under its real status, its 405 under its route, the unknown paths under one
label, the retry reasons, build and process series. Waits are bounded (30 s)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from edge_agent import __version__
from edge_agent.sync.client import RETRY_REASONS
from tests.helpers import envelope, require_binary

DEADLINE_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape_config(target: str) -> str:
    return f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: edge-agent
    metrics_path: /metrics
    static_configs:
      - targets: ["{target}"]
"""


@pytest.fixture
async def prometheus(client: TestClient, tmp_path: Path) -> AsyncIterator[str]:
    """A Prometheus server scraping ``client``'s agent every second; yields its base URL."""
    binary = require_binary("prometheus")
    config = tmp_path / "prometheus.yml"
    target = f"{client.host}:{client.port}"
    await asyncio.to_thread(config.write_text, scrape_config(target))
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def query(session: aiohttp.ClientSession, base: str, promql: str) -> list[dict[str, Any]]:
    """One instant query; [] while Prometheus is starting or has not scraped yet."""
    try:
        async with session.get(f"{base}/api/v1/query", params={"query": promql}) as response:
            if response.status != 200:
                return []
            body = await response.json()
    except aiohttp.ClientError:
        return []
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def wait_for_value(session: aiohttp.ClientSession, base: str, promql: str, expected: float) -> float:
    """Poll until ``promql`` has one series equal to ``expected`` (bounded); returns the last value seen."""
    seen = float("nan")
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        result = await query(session, base, promql)
        if len(result) == 1:
            seen = float(result[0]["value"][1])
            if seen == expected:
                return seen
        await asyncio.sleep(0.5)
    return seen


async def test_prometheus_reads_the_real_status_and_bounded_routes(
    client: TestClient, prometheus: str
) -> None:
    bad = await client.post("/visit", json={"ctx": "not an object"})
    good = await client.post("/visit", json=envelope())
    for path in ("/favicon.ico", "/zzz-test-404"):
        assert (await client.get(path)).status == 404
    wrong_method = await client.get("/visit")
    assert (bad.status, good.status, wrong_method.status) == (422, 200, 405)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        up = await wait_for_value(session, prometheus, 'up{job="edge-agent"}', 1)
        rejected = await wait_for_value(
            session, prometheus, 'edge_agent_requests_total{route="/visit",status="422"}', 1
        )
        unmatched = await wait_for_value(
            session, prometheus, 'edge_agent_requests_total{route="unmatched",status="404"}', 2
        )
        refused_method = await wait_for_value(
            session, prometheus, 'edge_agent_requests_total{route="/visit",status="405"}', 1
        )
        retry_reasons = await query(session, prometheus, "edge_agent_retried_total")
        as_500 = await query(session, prometheus, 'edge_agent_requests_total{route="/visit",status="500"}')
        routes = await query(session, prometheus, "count by (route) (edge_agent_requests_total)")
        build = await query(session, prometheus, "edge_agent_build_info")
        memory = await query(session, prometheus, "process_resident_memory_bytes")
        latency = await query(
            session, prometheus, 'edge_agent_request_seconds_count{route="/visit",status_class="4xx"}'
        )

    assert up == 1
    assert rejected == 1
    assert unmatched == 2
    assert refused_method == 1
    # Every retry reason is a series from the first scrape, at 0 with no upstream.
    assert {r["metric"]["reason"] for r in retry_reasons} == set(RETRY_REASONS)
    assert all(float(r["value"][1]) == 0 for r in retry_reasons)
    assert as_500 == []
    assert not any("favicon" in r["metric"]["route"] or "zzz" in r["metric"]["route"] for r in routes)
    assert [r["metric"]["version"] for r in build] == [__version__]
    assert memory and float(memory[0]["value"][1]) > 0
    assert latency and float(latency[0]["value"][1]) == 2  # the 422 and the 405
