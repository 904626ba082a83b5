"""The status page opened in headless Chromium (Debian's, driven by Playwright; no browser is downloaded)
against the real agent on loopback: the figures a person reads equal ``/status`` when working offline,
when syncing with the reference upstream, and with storage that refuses writes. A screenshot of each
state is saved and its path printed."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge_agent.agent.keys import db_key
from edge_agent.clock import ManualClock
from tests.agent.page_kit import add_dead_letter, app_traffic
from tests.conftest import MakeClient, upstream_url
from tests.helpers import envelope, require_binary
from tests.sync.pull_support import admin_sync, marker_bundle

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WALL_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d( UTC|[+-]\d\d:\d\d)( \((in )?[\w ]+( ago)?\))?$")
UNITS = {"d": 86400, "h": 3600, "min": 60, "s": 1}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    binary = require_binary("chromium")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=binary, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


def seconds_of(text: str) -> int:
    """``3 min 5 s`` → 185."""
    pairs = re.findall(r"(\d+) (d|h|min|s)\b", text)
    assert pairs, text
    return sum(int(n) * UNITS[unit] for n, unit in pairs)


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def text(page: Page, selector: str) -> str:
    return (await page.locator(selector).inner_text()).strip()


async def shown_equals_status(
    browser: Browser, agent: TestClient, state: str, shots: Path, db_decisions: int
) -> tuple[dict[str, Any], str]:
    """Open the page, check each figure against ``/status`` and save a screenshot; returns ``/status``
    and the page's text as shown."""
    page = await browser.new_page(viewport={"width": 1100, "height": 900})
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    url = str(agent.make_url("/"))
    response = await page.goto(url)
    assert response is not None and response.status == 200
    st: dict[str, Any] = await (await agent.get("/status")).json()

    verdict = st["verdict"]
    assert await page.get_attribute("#verdict", "data-level") == verdict["level"]
    assert await text(page, "#verdict-title") == verdict["title"]
    if verdict["since"] is None:
        assert await page.locator("#verdict time").count() == 0
    else:
        assert await page.get_attribute("#verdict time", "datetime") == utc(verdict["since"])
    queue = st["queue"]
    assert int(await text(page, "#queue-pending")) == queue["pending"]
    if queue["oldestAgeSeconds"] is None:
        assert await text(page, "#queue-oldest") == "nothing waiting"
    else:
        assert seconds_of(await text(page, "#queue-oldest")) == int(queue["oldestAgeSeconds"])
    assert int(await text(page, "#dead-letters")) == queue["deadLetter"]
    activity = st["activity"]
    assert float(await text(page, "#requests-per-minute")) == activity["requestsPerMinute"]
    assert int(await text(page, "#requests-last-hour")) == activity["requestsLastHour"]
    last = activity["lastRequest"]
    assert (await text(page, "#last-request")).startswith(f"{last['route']} → {last['status']}, ")
    assert await page.get_attribute("#last-request time", "datetime") == utc(last["at"])
    assert int(await text(page, "#decisions-last-hour")) == st["decisions"]["lastHour"]
    assert await page.locator("#decision-rows tr").count() == min(20, db_decisions)

    sync = st["sync"]
    if sync["lastPull"]:
        assert await page.get_attribute("#last-pull time", "datetime") == utc(sync["lastPull"]["at"])
        assert await page.get_attribute("#next-pull time", "datetime") == utc(sync["nextPullAt"])

    # Every time has its zone; the refresh is said; nothing came from anywhere but the page itself.
    for shown in await page.locator("time").all_inner_texts():
        assert WALL_TIME.match(shown), shown
    assert (await text(page, "#refresh")).startswith("Refreshes every 10 s · last refreshed ")
    assert await page.get_attribute("meta[http-equiv=refresh]", "content") == "10"
    assert await page.locator("script, img, iframe, link").count() == 0 and dialogs == []
    assert fetched == [url]
    assert await page.locator("svg.chart rect title").count() > 0

    shot = shots / f"status-page-{state}.png"
    await page.screenshot(path=str(shot), full_page=True)
    print(f"status page screenshot ({state}): {shot}")
    shown = await page.locator("body").inner_text()
    await page.close()
    return st, shown


def decision_rows(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])
    finally:
        conn.close()


async def test_offline_with_no_upstream_is_calm_and_shows_what_status_says(
    browser: Browser, make_client: MakeClient, clock: ManualClock, tmp_path: Path
) -> None:
    clock.set(time.time())  # the storage's health times are the system's
    client = await make_client()
    await app_traffic(client, clock)
    clock.advance(95)
    rows = decision_rows(tmp_path / "agent.db")
    st, shown = await shown_equals_status(browser, client, "offline", tmp_path, rows)
    assert st["verdict"]["level"] == "offline" and st["verdict"]["title"] == "Working offline"
    assert st["queue"]["pending"] == 4 and st["queue"]["deadLetter"] == 0
    assert st["activity"]["requestsLastHour"] == 6
    for route in ("/visit", "/event", "/choose"):
        assert f"\t{route}\t" in shown, route  # a decision of every route is listed


@pytest.fixture
def upstream_bundles(demo_bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"0001-v1.json": marker_bundle(demo_bundle, "v1")}


async def test_syncing_with_the_reference_upstream_shows_the_pull_and_what_waits(
    browser: Browser, make_client: MakeClient, upstream: TestServer, clock: ManualClock, tmp_path: Path
) -> None:
    clock.set(time.time())
    agent = await make_client(
        upstream={"url": upstream_url(upstream)},
        sync={"start_jitter_s": 3600, "push_interval_s": 3600},
        decision={"timezone": "Asia/Kolkata"},
    )
    await app_traffic(agent, clock)
    synced = await admin_sync(agent)
    assert synced["pull"]["outcome"] == "full"
    clock.advance(30)
    assert (await agent.post("/visit", json=envelope())).status == 200  # waits for the next push
    rows = decision_rows(tmp_path / "agent.db")
    st, shown = await shown_equals_status(browser, agent, "syncing", tmp_path, rows)
    assert st["verdict"]["level"] == "ok" and st["sync"]["state"] == "online"
    assert st["queue"]["pending"] == 1 and st["bundle"]["version"] == "v1"
    assert "+05:30" in shown  # times in decision.timezone
    assert "Last bundle pull\tfull v1, " in shown


async def test_storage_refusing_writes_is_the_fault_shown_with_a_readable_dead_letter(
    browser: Browser, make_client: MakeClient, clock: ManualClock, tmp_path: Path, demo_bundle: dict[str, Any]
) -> None:
    bundle = demo_bundle | {"version": "v<img src=x onerror=alert(2)>"}
    clock.set(time.time())
    agent = await make_client(bundle=bundle)
    await app_traffic(agent, clock)
    await add_dead_letter(agent)
    db = agent.app[db_key]

    def no_room(conn: sqlite3.Connection) -> None:
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        conn.execute(f"PRAGMA max_page_count = {pages}")

    await db.write(no_room)
    clock.advance(5)
    big = envelope(data=[{"type": "note", "name": "x" * 200_000}])
    assert (await agent.post("/event", json=big)).status == 503
    rows = decision_rows(tmp_path / "agent.db")
    st, shown = await shown_equals_status(browser, agent, "degraded", tmp_path, rows)
    assert st["verdict"]["level"] == "fault" and st["storage"]["state"] == "degraded"
    assert st["queue"]["deadLetter"] == 1
    error = st["queue"]["lastDeadLetter"]["error"]
    assert error == f"422 {HTTPStatus(422).phrase}: <script>alert(1)</script> sec is unknown"
    assert error in shown and '"trace"' not in shown  # read as text, never the raw body
    assert "v<img src=x onerror=alert(2)> (file:" in shown
