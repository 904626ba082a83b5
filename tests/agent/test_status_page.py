"""The page for a person at the kiosk, through the real app: the verdict in words, the figures ``/status``
answers, decisions of every route, engagement hits, the chart, and everything escaped."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from edge_agent.agent.activity_sampler import sample
from edge_agent.agent.keys import sync_state_key
from edge_agent.clock import ManualClock
from tests.agent.page_kit import HOSTILE_ERROR, add_dead_letter, app_traffic
from tests.conftest import MakeClient
from tests.helpers import envelope


async def page_and_status(client: TestClient) -> tuple[str, dict[str, Any]]:
    resp = await client.get("/")
    assert resp.status == 200 and resp.content_type == "text/html"
    status: dict[str, Any] = await (await client.get("/status")).json()
    return await resp.text(), status


def cell(page: str, ident: str) -> str:
    found = re.search(rf"<td id='{ident}'>(.*?)</td>", page)
    assert found, ident
    return found.group(1)


async def test_offline_without_an_upstream_is_normal_and_says_since_when(client: TestClient) -> None:
    page, st = await page_and_status(client)
    assert st["verdict"] == {
        "level": "offline",
        "title": "Working offline",
        "detail": "No upstream is configured: everything the app sends is kept here (0 messages so far).",
        "since": st["sync"]["stateSince"],
    }
    assert "data-level='offline'" in page and "background:#ddf4ff" in page  # calm blue, not amber or red
    assert "<strong id='verdict-title'>Working offline</strong>" in page
    assert "Since <time datetime='2026-09-21T14:13:20Z'>2026-09-21 14:13:20 UTC (0 s ago)</time>" in page
    assert "Refreshes every 10 s · last refreshed <time datetime='2026-09-21T14:13:20Z'>" in page
    assert "<meta http-equiv='refresh' content='10'>" in page
    assert cell(page, "last-request") == "none since the agent started"
    assert "id='decision-rows-empty'>No decisions yet." in page
    assert "none configured — working offline" in page


async def test_the_figures_are_the_ones_status_answers(client: TestClient, clock: ManualClock) -> None:
    await app_traffic(client, clock)
    clock.advance(125)
    page, st = await page_and_status(client)
    assert cell(page, "queue-pending") == str(st["queue"]["pending"]) == "4"
    assert st["queue"]["oldestAgeSeconds"] == 127.0
    assert cell(page, "queue-oldest") == "<span data-seconds='127.000'>2 min 7 s</span>"
    assert cell(page, "dead-letters") == "0" and st["queue"]["lastDeadLetter"] is None
    assert st["activity"]["requestsPerMinute"] == 1.2 and st["activity"]["requestsLastHour"] == 6
    assert cell(page, "requests-per-minute") == "1.2" and cell(page, "requests-last-hour") == "6"
    last = st["activity"]["lastRequest"]
    assert last == {"route": "/engagement", "status": 204, "at": 1_790_000_002.0}
    assert cell(page, "last-request").startswith("/engagement → 204, <time datetime='2026-09-21T14:13:22Z'>")
    assert st["decisions"] == {"lastHour": 5, "lastAt": 1_790_000_002.0}
    assert "<span id='decisions-last-hour'>5</span> in the last hour." in page


async def test_decisions_of_every_route_and_engagement_hits_are_listed(
    client: TestClient, clock: ManualClock
) -> None:
    await app_traffic(client, clock)
    page, _ = await page_and_status(client)
    rows = re.findall(r"<tr><td><time[^>]*>[^<]*</time></td><td>([^<]*)</td><td>([^<]*)</td>", page)
    assert rows[:5] == [
        ("/choose", "cmp_slide_b"),
        ("/choose", "cmp_slide_a"),
        ("/choose", "cmp_thanks01"),
        ("/event", "cmp_thanks01"),
        ("/visit", "cmp_survey01"),
    ]
    assert "<td>chosen by /choose</td>" in page  # a trigger names the campaign; /choose allocates
    assert rows[5] == ("WIMP", "cmp_slide_a")  # the engagement hit, joined to its decision
    assert "<td>yes</td></tr></tbody>" in page


async def test_a_dead_letter_shows_a_readable_error_and_is_the_fault(
    client: TestClient, clock: ManualClock
) -> None:
    await app_traffic(client, clock)
    await add_dead_letter(client)
    page, st = await page_and_status(client)
    dead = st["queue"]["lastDeadLetter"]
    assert dead == {
        "path": "/visit",
        "status": 422,
        "error": "422 Unprocessable Entity: <script>alert(1)</script> sec is unknown",
        "receivedAt": 1_790_000_000.0,
    }
    assert st["verdict"]["level"] == "fault" and st["verdict"]["title"] == "1 message could not be delivered"
    assert st["verdict"]["since"] is None  # no time of death is kept; the received time is shown below
    assert "received <time datetime='2026-09-21T14:13:20Z'>" in cell(page, "dead-letter-error")
    assert "422 Unprocessable Entity: &lt;script&gt;alert(1)&lt;/script&gt; sec is unknown" in page
    assert HOSTILE_ERROR not in page and "trace" not in page and "<script" not in page


async def test_the_sync_error_in_status_and_on_the_page_is_readable(client: TestClient) -> None:
    state = client.app[sync_state_key]
    state.failure(
        state.state_since, '503: {"message": "maintenance until 03:00", "code": 17}', reachable=True
    )
    page, st = await page_and_status(client)
    assert st["sync"]["lastError"] == "503 Service Unavailable: maintenance until 03:00"
    assert cell(page, "sync-error") == "503 Service Unavailable: maintenance until 03:00"


async def test_page_escapes_what_it_shows(make_client: MakeClient, demo_bundle: dict[str, Any]) -> None:
    bundle = copy.deepcopy(demo_bundle)
    bundle["version"] = "v<script>"
    slide = next(c for c in bundle["campaigns"] if c["campaignId"] == "cmp_slide_a")
    slide["campaignId"] = "cmp_<script>alert(1)</script>"
    client = await make_client(bundle=bundle)
    await client.post("/choose", json=envelope(data=[{"group": "home_slider"}]))
    resp = await client.get("/")
    page = await resp.text()
    assert "<script" not in page
    assert "cmp_&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "v&lt;script&gt;" in page
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "http" not in page.replace("http-equiv", "").replace("http://www.w3.org/2000/svg", "")


async def test_the_chart_draws_the_last_hour_from_the_ring(client: TestClient, clock: ManualClock) -> None:
    await sample(client.app)  # as the sampler does every 15 s: nothing queued yet
    for _ in range(3):
        assert (await client.post("/visit", json=envelope())).status == 200
    clock.advance(60)
    client.app[sync_state_key].count_attempt("push", "skipped")
    await sample(client.app)
    page = await (await client.get("/")).text()
    svg = page[page.index("<svg") : page.index("</svg>") + 6]
    assert "<title>1 min ago: 3 requests</title>" in svg
    assert "<title>this minute: 3 waiting</title>" in svg and "<title>1 min ago: 0 waiting</title>" in svg
    assert "<title>this minute: 1 sync run skipped</title>" in svg
    assert svg.count("<rect") == 3 + 1 + 2 + 1  # frames, request bar, queue steps, sync bar


async def test_a_database_that_does_not_open_still_gets_a_page_that_says_so(
    make_client: MakeClient, tmp_path: Path
) -> None:
    db_path = tmp_path / "agent.db"
    db_path.mkdir()  # a directory where the file should be: SQLite cannot open it
    client = await make_client(storage={"path": db_path})
    page, st = await page_and_status(client)
    assert st["verdict"]["level"] == "fault" and st["verdict"]["title"] == "Not saving: storage is not open"
    assert "<strong id='verdict-title'>Not saving: storage is not open</strong>" in page
    assert cell(page, "queue-pending") == "—" and st["queue"]["pending"] is None
    assert cell(page, "queue-oldest") == "—"  # unknown, not "nothing waiting"
    assert cell(page, "dead-letters") == "—" and st["queue"]["deadLetter"] is None


async def test_after_failures_the_next_retry_is_the_end_of_the_pause(
    make_client: MakeClient, clock: ManualClock
) -> None:
    agent = await make_client(upstream={"url": "http://127.0.0.1:9"}, sync={"start_jitter_s": 3600})
    state = agent.app[sync_state_key]
    assert "<td id='next-retry'>none pending</td>" in (await page_and_status(agent))[0]
    state.failure(clock.now(), "upstream unreachable: refused", reachable=False)
    assert "<td id='next-retry'>with the next push run</td>" in (await page_and_status(agent))[0]
    state.failure(clock.now(), "429: slow down", reachable=True, next_attempt_at=clock.now() + 90)
    page, st = await page_and_status(agent)
    assert st["sync"]["nextAttemptAt"] == clock.now() + 90
    assert (
        "<td id='next-retry'><time datetime='2026-09-21T14:14:50Z'>2026-09-21 14:14:50 UTC (in 1 min 30 s)"
        in page
    )
    assert st["verdict"]["level"] == "attention"  # answered but refused (degraded)


async def test_the_page_answers_under_the_host_and_origin_rules(client: TestClient) -> None:
    own = f"127.0.0.1:{client.port}"
    assert (await client.get("/", headers={"Host": own, "Origin": f"http://{own}"})).status == 200
    assert (await client.get("/", headers={"Host": f"localhost:{client.port}"})).status == 200
    assert (await client.get("/", headers={"Host": "rebound.example"})).status == 421
    foreign = {"Host": own, "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert (await client.get("/", headers=foreign)).status == 403
