"""Acceptance: kill -9 the agent in the middle of a drain; after a restart the upstream ends with every
event exactly once. Rows answered but not yet marked are sent again and deduplicated upstream."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from edge_agent.clock import ManualClock
from tests.conftest import MakeSim
from tests.sync.conftest import MakeRig, ingest, open_db

CHILD = Path(__file__).with_name("drain_child.py")
ROOT = Path(__file__).parents[2]


async def test_a_drain_killed_mid_way_is_finished_after_restart_with_every_event_once(
    make_sim: MakeSim, make_rig: MakeRig, clock: ManualClock, tmp_path: Path
) -> None:
    events = 1500
    clock.set(time.time())  # the child runs on the system clock: stamp rows with it (the age bound)
    sim = await make_sim()
    db_path = tmp_path / "agent.db"
    db = await open_db(db_path)
    await ingest(db, clock, events, profiles=50)
    await asyncio.to_thread(db.close)

    url = str(sim.server.make_url("/"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), str(db_path), url,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert child.returncode is None, (await child.communicate())[1].decode()
            assert time.monotonic() < deadline, "the child drained nothing in 60 s"
            agents = (await (await sim.get("/sim/stats")).json())["agents"]
            if sum(a["unique"] for a in agents.values()) >= 300:
                break
            await asyncio.sleep(0.02)
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGKILL)
        await child.wait()
    assert child.returncode == -signal.SIGKILL

    [before] = (await (await sim.get("/sim/stats")).json())["agents"].values()
    assert 300 <= before["unique"] < events, "killed too late to prove anything"

    rig = await make_rig(sim=sim)  # the restarted agent: same file, same stored agent id
    await rig.drain_until_empty()

    agent = await rig.agent_stats()
    assert (agent["unique"], agent["lastSeq"], agent["gaps"]) == (events, events, 0)
    assert agent["received"] == agent["unique"] + agent["duplicates"]
    assert len(await rig.rows("state = 'delivered'")) == events
