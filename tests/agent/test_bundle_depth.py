"""A bundle nested past ``BUNDLE_MAX_DEPTH`` is refused where it enters — ``POST /admin/bundle``, a
``--bundle`` file, the upstream's answer — with a 422 (or a refusal) naming the path, and the active
bundle keeps serving. Without the check these reach the recursive validators and compilers
(``RecursionError``) or the serializer (orjson refuses 255 levels): a 500 and a 150 KB traceback."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from edge_agent.cli import main
from edge_agent.storage.bundles import BUNDLE_MAX_DEPTH
from tests.conftest import MakeClient, MakeSim, upstream_url, write_version
from tests.helpers import db_rows
from tests.sync.pull_support import admin_sync, marker_bundle

MARK = "<deep>"
# The demo's first content's variables sit at level 10 (root 1, campaigns 2, … variables 10).
VARIABLES_LEVEL = 10
CONDITION_LEVEL = 4  # segments 2, a segment 3, its condition 4


def nest(levels: int) -> str:
    """``levels`` objects inside each other, as text (no JSON encoder nests past its own limit)."""
    return '{"a":' * (levels - 1) + '{"a":1' + "}" * levels


def deep_content(bundle: dict[str, Any], total_depth: int) -> bytes:
    """``bundle`` with a content variable whose innermost object is at ``total_depth``."""
    doc = copy.deepcopy(bundle)
    doc["campaigns"][0]["experiences"][0]["variations"][0]["contents"][0]["variables"]["deep"] = MARK
    return json.dumps(doc).replace(json.dumps(MARK), nest(total_depth - VARIABLES_LEVEL)).encode()


def deep_condition(bundle: dict[str, Any], total_depth: int) -> bytes:
    """``bundle`` with a segment condition whose ``value`` nests down to ``total_depth``."""
    doc = copy.deepcopy(bundle)
    doc["segments"][0]["condition"] = {"attr": "ctx.type", "op": "eq", "value": MARK}
    return json.dumps(doc).replace(json.dumps(MARK), nest(total_depth - CONDITION_LEVEL)).encode()


def stored(db: Path) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in db_rows(db, "SELECT slot, version, loaded_at, body FROM bundles ORDER BY slot")]


async def active_version(client: TestClient) -> str:
    return str((await (await client.get("/status")).json())["bundle"]["version"])


def renamed(bundle: dict[str, Any], version: str) -> dict[str, Any]:
    return copy.deepcopy(bundle) | {"version": version}


BUILDERS = {"content": deep_content, "condition": deep_condition}
PATHS = {
    "content": "campaigns.0.experiences.0.variations.0.contents.0.variables.deep…",
    "condition": "segments.0.condition.value.a.a.a.a.a.a…",
}


@pytest.mark.parametrize("depth", [BUNDLE_MAX_DEPTH + 1, 300, 1000])
@pytest.mark.parametrize("where", ["content", "condition"])
async def test_a_deep_bundle_posted_is_422_naming_the_path_and_the_old_one_stays(
    make_client: MakeClient, tmp_path: Path, demo_bundle: dict[str, Any], where: str, depth: int
) -> None:
    client = await make_client()
    db = tmp_path / "agent.db"
    before = stored(db)
    body = BUILDERS[where](renamed(demo_bundle, "deep-1"), depth)

    resp = await client.post("/admin/bundle", data=body, headers={"Content-Type": "application/json"})

    assert resp.status == 422, await resp.text()
    answer = await resp.json()
    assert answer["ok"] is False and answer["status"] == 422
    assert answer["errors"] == [f"{PATHS[where]}: nested deeper than {BUNDLE_MAX_DEPTH} levels"]
    assert stored(db) == before and await active_version(client) == "demo-1"


async def test_a_bundle_at_the_depth_limit_installs(
    make_client: MakeClient, demo_bundle: dict[str, Any]
) -> None:
    # Content variables: a condition's own value has a tighter rule of its own (storage/conditions.py).
    client = await make_client()
    body = deep_content(renamed(demo_bundle, "at-limit"), BUNDLE_MAX_DEPTH)
    resp = await client.post("/admin/bundle", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 200, await resp.text()
    assert await active_version(client) == "at-limit"
    assert (await client.get("/readyz")).status == 200


def test_serve_refuses_a_deep_bundle_file_naming_the_path(
    tmp_path: Path, demo_bundle: dict[str, Any]
) -> None:
    path = tmp_path / "deep.json"
    path.write_bytes(deep_content(renamed(demo_bundle, "deep-file"), 1000))
    result = CliRunner().invoke(
        main, ["serve", "--port", "18766", "--db", str(tmp_path / "a.db"), "--bundle", str(path)]
    )
    assert result.exit_code == 2, result.output
    assert f"{PATHS['content']}: nested deeper than {BUNDLE_MAX_DEPTH} levels" in result.output
    assert "Traceback" not in result.output and "RecursionError" not in result.output


async def test_a_deep_bundle_from_the_upstream_is_refused_and_the_old_one_keeps_serving(
    make_client: MakeClient, make_sim: MakeSim, sim_dir: Path, demo_bundle: dict[str, Any]
) -> None:
    v1 = marker_bundle(demo_bundle, "v1")
    write_version(sim_dir, "0001-v1.json", v1)
    # 200 levels: past the bundle limit, under what the reference upstream itself can serialize (255).
    (sim_dir / "bundles" / "0002-v2.json").write_bytes(deep_content(renamed(v1, "v2-deep"), 200))
    upstream = (await make_sim()).server
    sync = {"start_jitter_s": 3600, "push_interval_s": 3600}
    agent = await make_client(upstream={"url": upstream_url(upstream), "api_key": "k-up"}, sync=sync)

    pull = (await admin_sync(agent))["pull"]

    assert pull["outcome"] == "rejected", pull
    assert pull["errors"] == [f"{PATHS['content']}: nested deeper than {BUNDLE_MAX_DEPTH} levels"]
    assert await active_version(agent) != "v2-deep"
