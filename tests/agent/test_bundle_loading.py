"""Which bundle serves: --bundle file, else the stored one, else the packaged demo; bad files never load."""

from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from edge_agent.cli import main
from tests.conftest import MakeClient
from tests.helpers import envelope


async def bundle_status(client: TestClient) -> dict[str, Any]:
    resp = await client.get("/status")
    assert resp.status == 200
    data: dict[str, Any] = (await resp.json())["bundle"]
    return data


async def test_demo_bundle_serves_by_default_and_readyz_is_green(client: TestClient) -> None:
    status = await bundle_status(client)
    assert status["version"] == "demo-1" and status["source"] == "demo" and status["campaigns"] == 6
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["bundle"] == "demo-1"


async def test_bundle_file_is_loaded_then_kept_across_restarts(
    make_client: MakeClient, demo_bundle: dict[str, Any], tmp_path: Path
) -> None:
    mine = copy.deepcopy(demo_bundle)
    mine["version"] = "site-7"
    mine["campaigns"] = mine["campaigns"][:1]
    first = await make_client(bundle=mine)
    assert (await bundle_status(first))["version"] == "site-7"
    await first.close()
    # Restart on the same database without --bundle: the stored bundle serves, not the demo.
    second = await make_client()
    status = await bundle_status(second)
    assert status["version"] == "site-7" and status["campaigns"] == 1


def test_serve_refuses_an_invalid_bundle_file_listing_every_problem(tmp_path: Path) -> None:
    bad = {
        "schema": 1,
        "version": "broken",
        "campaigns": [
            {"campaignId": "1e5", "experiences": [{"experienceId": "e", "variations": []}]},
            {"campaignId": "cmp_ok", "experiences": [], "triggers": [{"type": "SOMETIMES"}]},
        ],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    result = CliRunner().invoke(
        main, ["serve", "--port", "18765", "--db", str(tmp_path / "a.db"), "--bundle", str(path)]
    )
    assert result.exit_code == 2
    out = result.output
    assert "campaigns.0.campaignId" in out
    assert "campaigns.0.experiences.0.variations" in out
    assert "campaigns.1.experiences" in out
    assert "campaigns.1.triggers.0.type" in out


async def test_engagement_urls_use_public_url(make_client: MakeClient) -> None:
    client = await make_client(server={"public_url": "http://kiosk-12.local:8787/"})
    resp = await client.post("/choose", json=envelope(data=[{"group": "home_slider"}]))
    data = (await resp.json())["data"]
    urls = [
        u for entry in data for c in entry["payload"][0]["contents"] for e in c["events"] for u in e["urls"]
    ]
    assert urls and all(u.startswith("http://kiosk-12.local:8787/v2/engagement?type=") for u in urls)


async def test_a_stored_bundle_that_no_longer_validates_falls_back_instead_of_stopping_the_start(
    make_client: MakeClient, demo_bundle: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "agent.db"  # make_settings' storage.path
    first, second = copy.deepcopy(demo_bundle), copy.deepcopy(demo_bundle)
    first["version"], second["version"] = "site-1", "site-2"
    await (await make_client(bundle=first)).close()
    await (await make_client(bundle=second)).close()  # stored: current site-2, previous site-1
    spoil(db, "current")  # e.g. a release with a tighter limit, or a damaged row

    agent = await make_client()
    assert (await bundle_status(agent))["version"] == "site-1"
    assert (await agent.get("/readyz")).status == 200
    assert "stored bundle no longer validates" in caplog.text
    await agent.close()

    spoil(db, "current")
    spoil(db, "previous")
    agent = await make_client()  # neither stored bundle: the packaged demo, as on a first start
    assert (await bundle_status(agent))["source"] == "demo"
    assert (await agent.post("/visit", json=envelope())).status == 200


def spoil(db: Path, slot: str) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE bundles SET body = ? WHERE slot = ?", ('{"version": "spoilt"}', slot))
    conn.close()
