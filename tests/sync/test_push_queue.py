"""The outbox around the drain: bounds and pruning (pending rows only go by age), the operator commands
(list, dead letter, retry, purge, export/import between agents), the agent id, and maintenance without
an upstream."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_agent.clock import ManualClock
from edge_agent.config.settings import Settings
from edge_agent.storage import meta, outbox_admin
from edge_agent.sync.push import Pusher
from edge_agent.sync.state import SyncState
from edge_agent.upstream_sim import FaultConfig
from tests.sync.conftest import MakeRig, ingest, open_db

DAY = 86400.0


async def test_the_rows_bound_evicts_delivered_rows_oldest_first_and_never_pending_ones(
    make_rig: MakeRig, clock: ManualClock
) -> None:
    rig = await make_rig(queue={"max_rows": 100})
    await ingest(rig.db, clock, 80, profiles=4)
    await rig.pusher.drain()  # 80 delivered
    await ingest(rig.db, clock, 70, profiles=4)  # 150 rows: 80 delivered, 70 pending

    removed = await rig.pusher.maintain(force=True)

    assert removed == {"rows": 50}
    assert rig.state.counters["dropped:rows"] == 50
    delivered = await rig.rows("state = 'delivered'")
    assert [r["seq"] for r in delivered] == list(range(51, 81))  # the oldest 50 went
    assert len(await rig.rows("state = 'pending'")) == 70

    await ingest(rig.db, clock, 60, profiles=4)  # pending alone: 130 > 100
    assert await rig.pusher.maintain(force=True) == {"rows": 30}
    assert len(await rig.rows("state = 'pending'")) == 130  # over the bound, but never lost


async def test_the_bytes_bound_evicts_delivered_then_dead_rows(make_rig: MakeRig, clock: ManualClock) -> None:
    rig = await make_rig()
    await ingest(rig.db, clock, 30, profiles=3)
    await rig.pusher.drain()
    await rig.db.write(lambda c: c.execute("UPDATE outbox SET state = 'dead' WHERE seq > 20"))
    await ingest(rig.db, clock, 10, profiles=3)
    sizes = {r["seq"]: r["bytes"] for r in await rig.rows()}
    budget = sum(sizes.values()) - sum(sizes[s] for s in range(1, 26)) + 1  # room for all but 25 rows

    dropped = await rig.db.write(
        lambda c: outbox_admin.enforce_bounds(
            c, now=clock.now(), max_rows=10**6, max_bytes=budget, max_age_s=DAY
        )
    )

    assert dropped == {"bytes": 25}
    remaining = await rig.rows()
    assert [(r["seq"], r["state"]) for r in remaining][:5] == [
        (26, "dead"), (27, "dead"), (28, "dead"), (29, "dead"), (30, "dead"),
    ]  # fmt: skip
    assert len([r for r in remaining if r["state"] == "pending"]) == 10


async def test_the_age_bound_evicts_pending_rows_too_and_delivered_rows_are_pruned(
    make_rig: MakeRig, clock: ManualClock
) -> None:
    rig = await make_rig(
        queue={"max_age_days": 30},
        retention={"delivered_days": 7},
        faults=FaultConfig(forbid_secs=["sec-old"]),
    )
    await ingest(rig.db, clock, 5, profiles=1, sec="sec-old", prefix="old")  # stuck pending: sec paused
    clock.advance(10 * DAY)
    await ingest(rig.db, clock, 10, profiles=2)
    await rig.pusher.drain()  # the 10 are delivered at day 10
    clock.advance(21 * DAY)  # day 31: the stuck rows are 31 days old, the delivered ones 21
    await ingest(rig.db, clock, 3, profiles=1, prefix="new")

    removed = await rig.pusher.maintain(force=True)

    assert removed == {"age": 5, "pruned": 10}
    assert rig.state.counters["dropped:age"] == 5 and rig.state.counters["pruned"] == 10
    assert [r["uid"] for r in await rig.rows()] == ["new0000"] * 3


async def test_maintenance_runs_at_most_once_a_minute_and_without_an_upstream(
    make_settings: Callable[..., Settings], clock: ManualClock, tmp_path: Path
) -> None:
    settings = make_settings()
    db = await open_db(tmp_path / "agent.db")
    try:
        await ingest(db, clock, 8, profiles=2)
        await db.write(lambda c: c.execute("UPDATE outbox SET state = 'delivered', delivered_at = 0"))
        state = SyncState()
        pusher = Pusher(db, None, settings, clock, state, start_jitter=False)

        report = await pusher.drain()
        assert (report.stopped_because, report.dropped) == ("not_configured", {"pruned": 8})
        await ingest(db, clock, 2, profiles=2)
        await db.write(lambda c: c.execute("UPDATE outbox SET state = 'delivered', delivered_at = 0"))
        assert (await pusher.drain()).dropped == {}  # within the minute
        clock.advance(61)
        assert (await pusher.drain()).dropped == {"pruned": 2}
        assert state.last_drain["stoppedBecause"] == "not_configured" and not state.configured
    finally:
        await asyncio.to_thread(db.close)


async def test_operator_commands_list_retry_and_purge(make_rig: MakeRig, clock: ManualClock) -> None:
    rig = await make_rig()
    await ingest(rig.db, clock, 6, profiles=2)
    await rig.db.write(
        lambda c: c.execute(
            "UPDATE outbox SET state = 'dead', last_status = 422, last_error = 'no' WHERE seq <= 2"
        )
    )

    listed = await rig.db.read(lambda c: outbox_admin.list_rows(c, "pending", limit=3))
    dead = await rig.db.read(outbox_admin.dead_letter_rows)
    assert [r["seq"] for r in listed] == [3, 4, 5] and "body" not in listed[0]
    assert [(r["seq"], r["lastStatus"], r["lastError"]) for r in dead] == [(1, 422, "no"), (2, 422, "no")]

    ids = [dead[0]["id"]]
    assert await rig.db.write(lambda c: outbox_admin.retry_dead(c, ids, clock.now())) == 1
    with pytest.raises(ValueError, match="needs a state or ids"):
        await rig.db.write(lambda c: outbox_admin.purge(c))
    assert await rig.pusher.purge(state="dead") == 1
    assert rig.state.counters["dropped:operator"] == 1
    assert [r["seq"] for r in await rig.rows()] == [1, 3, 4, 5, 6]
    [retried] = await rig.rows("seq = 1")
    assert (retried["state"], retried["attempts"]) == ("pending", 0)


async def test_an_exported_queue_imported_by_another_agent_is_deduplicated_upstream(
    make_rig: MakeRig, clock: ManualClock, tmp_path: Path
) -> None:
    first = await make_rig()
    await ingest(first.db, clock, 20, profiles=4)
    buffer = io.StringIO()
    exported = await first.db.read(lambda c: outbox_admin.export_pending(c, buffer, now=clock.now()))
    lines = buffer.getvalue().splitlines()

    other_db = await open_db(tmp_path / "other.db")
    try:
        await ingest(other_db, clock, 3, profiles=1, prefix="own")  # its own rows take seq 1..3
        result = await other_db.write(lambda c: outbox_admin.import_rows(c, lines, clock.now()))
        again = await other_db.write(lambda c: outbox_admin.import_rows(c, lines, clock.now()))
        with pytest.raises(ValueError, match="line 1"):
            await other_db.write(lambda c: outbox_admin.import_rows(c, lines[1:], clock.now()))
        second = await make_rig(db=other_db, sim=first.sim)
        carried = await second.rows("seq > 3")
        assert [r["seq"] for r in carried] == list(range(4, 24))
        assert [r["id"] for r in carried] == [r["id"] for r in await first.rows()]

        await second.drain_until_empty()
        await first.drain_until_empty()  # the original agent sends them too, later
    finally:
        await asyncio.to_thread(other_db.close)

    assert (exported, result.imported, result.skipped, again.skipped) == (20, 20, 0, 20)
    agents = (await first.stats())["agents"]
    assert sum(a["unique"] for a in agents.values()) == 23  # 20 carried rows counted once, + 3 own
    assert agents[first.client.agent_id]["duplicates"] == 20


async def test_the_agent_id_is_minted_once_unless_configured(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "agent.db")
    try:
        minted = await db.write(lambda c: meta.ensure_agent_id(c))
        again = await db.write(lambda c: meta.ensure_agent_id(c, None))
        configured = await db.write(lambda c: meta.ensure_agent_id(c, "site-7"))
        after = await db.write(lambda c: meta.ensure_agent_id(c))
    finally:
        await asyncio.to_thread(db.close)
    assert minted == again == after and len(minted) == 36
    assert configured == "site-7"
