"""The agent side of the kill -9 test, as a process of its own: open the outbox, drain it against the
upstream until nothing is left (or until killed). Not a test module.

Usage: ``python tests/sync/drain_child.py AGENT_DB UPSTREAM_URL``; prints ``draining`` once started.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from edge_agent.clock import SystemClock
from edge_agent.config.settings import load_settings
from edge_agent.storage.database import Database
from edge_agent.sync.client import UpstreamClient, create_session
from edge_agent.sync.push import Pusher
from edge_agent.sync.state import SyncState


async def main(db_path: Path, url: str) -> None:
    settings = load_settings(
        overrides={
            "storage": {"path": db_path},
            "upstream": {"url": url},
            # Slow enough that the parent catches it mid-way; replay so outcomes are written per wave.
            "sync": {"mode": "replay", "max_rate": 300, "max_in_flight": 4, "start_jitter_s": 0},
        }
    )
    db = Database(db_path)
    await asyncio.to_thread(db.open)
    async with create_session(settings) as session:
        client = UpstreamClient(session, settings)
        pusher = Pusher(db, client, settings, SystemClock(), SyncState(), start_jitter=False)
        print("draining", flush=True)
        for _ in range(1000):
            report = await pusher.drain(force=True)  # as "sync now": no waiting on backoff timers
            if report.attempted == 0:
                break
    await asyncio.to_thread(db.close)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
