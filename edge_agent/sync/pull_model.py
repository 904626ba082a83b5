"""The pure parts of the bundle pull: the report, the schedule, delta application.

No I/O here, so each rule is tested by calling it.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any, Literal

from edge_agent.storage.bundles import COLLECTIONS
from edge_agent.sync.client import retryable

Outcome = Literal["not_modified", "full", "delta", "rejected", "error"]

JITTER = 0.2
MAX_STRETCH = 10


@dataclass(slots=True)
class PullReport:
    """What one pull did. ``version``: see ``SyncState`` (the version the answer concerned)."""

    outcome: Outcome
    at: float
    version: str | None = None
    errors: list[str] = field(default_factory=list)
    status: int | None = None  # HTTP status of the (last) answer; None when nothing answered
    base: str | None = None  # deltas: the version they were applied on
    refetched: bool = False  # a delta on another base made us ask again in full
    retry_after: float | None = None  # seconds the upstream asked us to wait
    next_pull_at: float | None = None

    @property
    def reached(self) -> bool:
        """The upstream answered, and not with a "try later" status: it is up."""
        return self.status is not None and not retryable(self.status)

    def summary(self) -> dict[str, Any]:
        """The ``state.last_pull`` shape: ``{at, outcome, version, errors}``."""
        return {"at": self.at, "outcome": self.outcome, "version": self.version, "errors": list(self.errors)}

    def as_dict(self) -> dict[str, Any]:
        return self.summary() | {
            "status": self.status,
            "base": self.base,
            "refetched": self.refetched,
            "retryAfter": self.retry_after,
            "nextPullAt": self.next_pull_at,
        }


def pull_delay(interval: float, failures: int, rng: random.Random) -> float:
    """Seconds until the next pull: ``interval × min(1 + failures, 10)``, then ±20 % jitter.

    The jitter is applied after the cap so that a fleet that failed together (an outage) does not come
    back in lock-step: a capped agent waits 8–12 × ``interval``, an agent without failures 0.8–1.2 ×.
    """
    factor = min(1 + max(failures, 0), MAX_STRETCH)
    return interval * factor * rng.uniform(1 - JITTER, 1 + JITTER)


class DeltaError(ValueError):
    """A delta answer that cannot be applied (malformed); the pull is ``rejected``."""


def _ids(delta: dict[str, Any], part: str, name: str) -> list[Any]:
    section = delta.get(part)
    if section is None:
        return []
    if not isinstance(section, dict):
        raise DeltaError(f"{part}: must be an object of lists")
    value = section.get(name, [])
    if not isinstance(value, list):
        raise DeltaError(f"{part}.{name}: must be a list")
    return value


def apply_delta(base: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``delta`` applied, as a new document (``base`` is not modified).

    Order matters (ties in priority are broken by bundle order, bundle.md §4), so: items keep their place
    in ``base``; an upserted item whose id exists replaces it in place; new items are appended in the
    order the delta lists them; deleted ids are removed (deletes apply first, so an id both deleted and
    upserted ends up appended). ``version`` and ``generatedAt`` come from the delta; every other top-level
    key from ``base`` (the upstream answers in full when those change). A new item inserted mid-list
    upstream therefore lands last here: an upstream that needs a precise order uses ``priority``.

    Raises DeltaError when a collection is not a list, an upserted item lacks its id, or an id is not a
    string or integer. The result still needs ``parse_bundle``.
    """
    version = delta.get("version")
    if not isinstance(version, str) or not version:
        raise DeltaError("version: a delta needs a non-empty string version")
    out = copy.deepcopy(base)
    out["version"] = version
    if "generatedAt" in delta:
        out["generatedAt"] = delta["generatedAt"]
    for name, id_key in COLLECTIONS.items():
        deletes = _ids(delta, "deletes", name)
        upserts = _ids(delta, "upserts", name)
        for i, item_id in enumerate(deletes):
            if not isinstance(item_id, str | int):
                raise DeltaError(f"deletes.{name}.{i}: an id must be a string or an integer")
        for i, item in enumerate(upserts):
            if not isinstance(item, dict) or not isinstance(item.get(id_key), str | int):
                raise DeltaError(f"upserts.{name}.{i}: an item needs a string or integer {id_key}")
        gone = set(deletes)
        current = [item for item in out.get(name) or [] if item.get(id_key) not in gone]
        position = {item.get(id_key): i for i, item in enumerate(current)}
        for item in upserts:
            where = position.get(item[id_key])
            if where is None:
                position[item[id_key]] = len(current)
                current.append(copy.deepcopy(item))
            else:
                current[where] = copy.deepcopy(item)
        out[name] = current
    return out
