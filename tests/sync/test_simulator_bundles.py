"""The reference upstream's bundle route: versions from a directory, 304 / full / delta answers, adding a
version at runtime, and the broken answers the agent must refuse."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from edge_agent.storage.bundles import COLLECTIONS
from tests.conftest import MakeSim


@pytest.fixture
def v1(demo_bundle: dict[str, Any]) -> dict[str, Any]:
    return demo_bundle | {"version": "v1"}


@pytest.fixture
def v2(v1: dict[str, Any]) -> dict[str, Any]:
    """v1 with one campaign changed, one segment removed, one product added; strategies unchanged."""
    bundle = copy.deepcopy(v1) | {"version": "v2", "generatedAt": "2026-11-28T00:00:00Z"}
    bundle["campaigns"][0]["name"] = "Rate the app (v2)"
    bundle["segments"] = [s for s in bundle["segments"] if s["segmentId"] != "seg_paid_traffic"]
    bundle["catalog"].append({"productId": "sku-2001", "name": "New", "price": 1.0})
    return bundle


def write(sim_dir: Path, name: str, bundle: Any) -> None:
    """A bundle file that is not necessarily a bundle (``write_version`` takes only dicts)."""
    directory = sim_dir / "bundles"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(json.dumps(bundle))


@pytest.fixture
def upstream_bundles(v1: dict[str, Any], v2: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``sim`` (tests/sync/conftest.py) starts with these two versions."""
    return {"0001-v1.json": v1, "0002-v2.json": v2}


def apply_delta(base: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """What the agent does with a delta (upstream.md §2), to check the delta is complete."""
    out = copy.deepcopy(base) | {"version": delta["version"]}
    for name, id_key in COLLECTIONS.items():
        gone = set(delta["deletes"][name])
        upserts = {item[id_key]: item for item in delta["upserts"][name]}
        kept = [upserts.pop(i[id_key], i) for i in out.get(name, []) if i[id_key] not in gone]
        out[name] = kept + list(upserts.values())
    return out


def by_id(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: {item[key]: item for item in bundle.get(name, [])} for name, key in COLLECTIONS.items()}


async def test_without_since_the_current_bundle_is_answered_in_full(
    sim: TestClient, v2: dict[str, Any]
) -> None:
    response = await sim.get("/edge/v1/bundle")

    assert response.status == 200
    assert response.headers["ETag"] == '"v2"'
    assert await response.json() == {"full": True, **v2}


@pytest.mark.parametrize(
    ("params", "headers"),
    [({}, {"If-None-Match": '"v2"'}), ({"since": "v2"}, {}), ({"since": "v1"}, {"If-None-Match": 'W/"v2"'})],
)
async def test_the_current_version_is_answered_304(
    sim: TestClient, params: dict[str, str], headers: dict[str, str]
) -> None:
    response = await sim.get("/edge/v1/bundle", params=params, headers=headers)

    assert response.status == 304
    assert response.headers["ETag"] == '"v2"'


async def test_a_known_since_is_answered_with_a_delta(
    sim: TestClient, v1: dict[str, Any], v2: dict[str, Any]
) -> None:
    response = await sim.get("/edge/v1/bundle", params={"since": "v1"}, headers={"If-None-Match": '"v1"'})

    assert response.status == 200
    delta = await response.json()
    assert (delta["full"], delta["base"], delta["version"]) == (False, "v1", "v2")
    assert [c["campaignId"] for c in delta["upserts"]["campaigns"]] == ["cmp_survey01"]
    assert [p["productId"] for p in delta["upserts"]["catalog"]] == ["sku-2001"]
    assert delta["upserts"]["strategies"] == [] and delta["upserts"]["segments"] == []
    assert delta["deletes"] == {
        "segments": ["seg_paid_traffic"],
        "campaigns": [],
        "strategies": [],
        "catalog": [],
    }
    assert by_id(apply_delta(v1, delta)) == by_id(v2)


async def test_an_unknown_since_is_answered_in_full(sim: TestClient) -> None:
    response = await sim.get("/edge/v1/bundle", params={"since": "v0-gone"})

    assert response.status == 200
    body = await response.json()
    assert (body["full"], body["version"]) == (True, "v2")


async def test_a_change_a_delta_cannot_express_is_answered_in_full(
    make_sim: MakeSim, sim_dir: Path, v1: dict[str, Any]
) -> None:
    write(sim_dir, "0001-v1.json", v1)
    write(sim_dir, "0002-v2.json", v1 | {"version": "v2", "sections": ["sec1"]})
    sim: TestClient = await make_sim()

    body = await (await sim.get("/edge/v1/bundle", params={"since": "v1"})).json()

    assert (body["full"], body["sections"]) == (True, ["sec1"])


async def test_versions_are_ordered_by_file_name_and_bad_files_are_skipped(
    make_sim: MakeSim, sim_dir: Path, v1: dict[str, Any]
) -> None:
    write(sim_dir, "0010-newest.json", v1 | {"version": "newest"})
    write(sim_dir, "0002-older.json", v1 | {"version": "older"})
    write(sim_dir, "0011-broken.json", {"schema": 1})
    (sim_dir / "bundles" / "0012-not-json.json").write_text("{")
    sim: TestClient = await make_sim()

    listed = await (await sim.get("/sim/bundles")).json()
    current = await sim.get("/edge/v1/bundle")

    assert listed == {
        "current": "newest",
        "versions": [
            {"version": "older", "file": "0002-older.json"},
            {"version": "newest", "file": "0010-newest.json"},
        ],
    }
    assert current.headers["ETag"] == '"newest"'


async def test_no_bundle_is_a_404(make_sim: MakeSim) -> None:
    sim: TestClient = await make_sim()

    assert (await sim.get("/edge/v1/bundle")).status == 404


async def test_an_added_version_becomes_current_and_deltas_reach_it(
    sim: TestClient, sim_dir: Path, v2: dict[str, Any]
) -> None:
    v3 = copy.deepcopy(v2) | {"version": "v3/rc"}
    v3["strategies"] = v3["strategies"][1:]

    added = await sim.post("/sim/bundles", json=v3)
    delta = await (await sim.get("/edge/v1/bundle", params={"since": "v2"})).json()

    assert added.status == 201
    assert await added.json() == {"version": "v3/rc", "file": "0003-v3_rc.json"}
    assert json.loads((sim_dir / "bundles" / "0003-v3_rc.json").read_text()) == v3
    assert (delta["base"], delta["version"]) == ("v2", "v3/rc")
    assert delta["deletes"]["strategies"] == ["str_popular"]
    assert (await sim.get("/edge/v1/bundle", headers={"If-None-Match": '"v3/rc"'})).status == 304


async def test_adding_a_bad_or_existing_version_is_refused(sim: TestClient, v2: dict[str, Any]) -> None:
    existing = await sim.post("/sim/bundles", json=v2)
    unversioned = await sim.post("/sim/bundles", json={"schema": 1, "campaigns": []})
    not_an_object = await sim.post("/sim/bundles", json=[v2])

    assert (existing.status, unversioned.status, not_an_object.status) == (409, 422, 422)
    assert (await (await sim.get("/sim/bundles")).json())["current"] == "v2"


async def test_adding_a_version_that_would_not_sort_last_is_refused(
    make_sim: MakeSim, sim_dir: Path, v1: dict[str, Any]
) -> None:
    write(sim_dir, "demo.json", v1)
    sim: TestClient = await make_sim()

    response = await sim.post("/sim/bundles", json=v1 | {"version": "v9"})

    assert response.status == 409
    assert "NNNN" in (await response.json())["errors"][0]
    assert sorted(p.name for p in (sim_dir / "bundles").iterdir()) == ["demo.json"]


async def test_the_invalid_bundle_fault_answers_200_without_a_version(sim: TestClient) -> None:
    await sim.post("/sim/faults", json={"bundleFault": "invalid"})

    response = await sim.get("/edge/v1/bundle", headers={"If-None-Match": '"v2"'})

    assert response.status == 200
    body = await response.json()
    assert "version" not in body
    assert body["full"] is True
    assert (await (await sim.get("/sim/stats")).json())["faults"] == {"bundle_invalid": 1}


async def test_the_empty_bundle_fault_answers_200_with_no_body(sim: TestClient) -> None:
    await sim.post("/sim/faults", json={"bundleFault": "empty"})

    response = await sim.get("/edge/v1/bundle", params={"since": "v1"})

    assert response.status == 200
    assert await response.read() == b""
    assert (await (await sim.get("/sim/stats")).json())["faults"] == {"bundle_empty": 1}
