"""The one place the scheduler, ``POST /admin/sync`` and ``edge-agent sync`` meet the push side.

The push side (``sync/client.py``, ``sync/push.py``) provides::

    UpstreamClient(session: aiohttp.ClientSession, settings: Settings)
    Pusher(db, client | None, settings, clock, state).drain(*, force: bool = False) -> DrainReport  # async

``client=None`` (no upstream configured) makes a drain only maintain the queue (bounds, pruning), so the
push job runs offline too. The Pusher waits its own random start jitter before its first unforced drain,
so the scheduler adds none. Everything here codes against that interface only; while a build does not
contain the push side, ``make_drainer`` returns None and the jobs report push as unavailable.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Protocol

import aiohttp

from edge_agent.clock import Clock
from edge_agent.config.settings import Settings
from edge_agent.storage.database import Database
from edge_agent.sync.state import SyncState

PUSH_UNAVAILABLE = "push is not available in this build (edge_agent.sync.push is missing)"


class Drainer(Protocol):
    async def drain(self, *, force: bool = False) -> Any:
        """Send what is due from the outbox; ``force`` ignores backoff and Retry-After timers."""
        ...


def make_drainer(
    db: Database, session: aiohttp.ClientSession | None, settings: Settings, clock: Clock, state: SyncState
) -> Drainer | None:
    """A Pusher over an UpstreamClient on ``session`` (none without an upstream: maintenance only);
    None when the push side is not in this build."""
    try:
        client_mod = importlib.import_module("edge_agent.sync.client")
        push_mod = importlib.import_module("edge_agent.sync.push")
    except ModuleNotFoundError as exc:
        if exc.name not in ("edge_agent.sync.client", "edge_agent.sync.push"):
            raise  # the push side is there but broken: say so
        return None
    client = client_mod.UpstreamClient(session, settings) if session is not None else None
    drainer: Drainer = push_mod.Pusher(db, client, settings, clock, state)
    return drainer


def report_dict(report: Any) -> dict[str, Any]:
    """A DrainReport as JSON-able data, whatever its form (``as_dict()``, a dataclass, pydantic, a dict)."""
    if report is None:
        return {}
    if isinstance(report, dict):
        return report
    for method in ("as_dict", "model_dump"):
        fn = getattr(report, method, None)
        if callable(fn):
            out: dict[str, Any] = fn()
            return out
    if dataclasses.is_dataclass(report) and not isinstance(report, type):
        return dataclasses.asdict(report)
    return {"report": repr(report)}
