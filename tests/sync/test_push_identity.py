"""Acceptance: identity mapping. Calls go through the agent's real routes; when the upstream answers a
replayed call with another uid, later replays of that profile carry the central uid, while the agent's
own answers keep the local uid the device stores."""

from __future__ import annotations

import pytest
from blockbuster import BlockBuster

from edge_agent.agent.keys import db_key
from edge_agent.storage.tracking import rfc3339
from tests.conftest import MakeClient
from tests.helpers import SEC, db_rows, envelope
from tests.sync.conftest import MakeRig


@pytest.fixture(autouse=True)
def allow_the_demo_bundle_read(no_blocking_on_the_loop: BlockBuster) -> None:
    """The agent reads its packaged demo bundle (a few KB) on the loop at start-up; that is the agent's
    business, not the drain's, so only that one call is allowed here."""
    for name in ("io.BufferedReader.read", "io.FileIO.read"):
        function = no_blocking_on_the_loop.functions.get(name)
        if function is not None:
            function.can_block_in("edge_agent/agent/bundles.py", "demo_bundle_bytes")


@pytest.mark.parametrize("mode", ["replay", "batch"])
async def test_a_remapped_uid_is_used_in_every_later_replay_of_the_profile(
    make_client: MakeClient, make_rig: MakeRig, mode: str
) -> None:
    agent = await make_client()
    visit = await agent.post("/visit", json=envelope())
    local = (await visit.json())["user"]["uid"]
    for kind in ("cart", "purchase"):
        response = await agent.post("/event", json=envelope(user={"uid": local}, data=[{"type": kind}]))
        assert response.status == 200
    rig = await make_rig(mode=mode, db=agent.app[db_key])
    await rig.sim.post("/sim/identity", json={"uidMap": {local: "central-1"}})

    await rig.drain_until_empty()

    assert [i["uid"] for i in await rig.received()] == [local, "central-1", "central-1"]
    [profile] = await rig.db.read(
        lambda c: [dict(r) for r in c.execute("SELECT uid, central_uid FROM profiles")]
    )
    assert profile == {"uid": local, "central_uid": "central-1"}

    # The agent keeps answering with the local uid; the next replay carries the central one.
    later = await agent.post("/event", json=envelope(user={"uid": local}, data=[{"type": "view"}]))
    assert (await later.json())["user"]["uid"] == local
    await rig.drain_until_empty()
    last = (await rig.received())[-1]
    assert (last["uid"], last["eventTypes"], last["seq"]) == ("central-1", ["view"], 4)


async def test_routes_are_replayed_as_their_original_calls(
    make_client: MakeClient, make_rig: MakeRig
) -> None:
    """Visit, event, user change and an engagement hit, each replayed as its own call with the headers."""
    agent = await make_client()
    local = (await (await agent.post("/visit", json=envelope())).json())["user"]["uid"]
    await agent.post("/event", json=envelope(user={"uid": local}, data=[{"type": "cart"}]))
    await agent.post("/user", json=envelope(user={"uid": local, "attributes": {"tier": "gold"}}))
    hit = await agent.get(
        "/engagement",
        params={"type": "WIMP", "decisionId": f"gf:{SEC}:{local}:1790000000", "contentId": "c1"},
    )
    assert hit.status == 204
    rig = await make_rig(db=agent.app[db_key])

    report = await rig.pusher.drain()

    assert report.delivered == 4
    items = await rig.received()
    assert [(i["method"], i["route"], i["seq"]) for i in items] == [
        ("POST", "/visit", 1), ("POST", "/event", 2), ("POST", "/user", 3), ("GET", "/engagement", 4),
    ]  # fmt: skip
    assert {i["agent"] for i in items} == {rig.client.agent_id}
    assert items[2]["body"]["user"]["attributes"] == {"tier": "gold"}
    assert items[3]["body"] == {
        "type": "WIMP",
        "decisionId": f"gf:{SEC}:{local}:1790000000",
        "contentId": "c1",
    }
    stored = db_rows(rig.settings.storage.path, "SELECT received_at FROM outbox ORDER BY seq")
    assert [i["receivedAt"] for i in items] == [rfc3339(r["received_at"]) for r in stored]
