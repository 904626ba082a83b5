"""Cutting ready rows into batch calls: one bearer per call, at most N items and B bytes each.

Pure functions over rows, no I/O. The byte size of an item is estimated from the stored body (the
envelope adds field names and the seq/time stamps), with a margin so a planned batch never exceeds the
upstream's 512 KiB limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from edge_agent.storage.outbox import OutboxRow

ITEM_OVERHEAD_BYTES = 256
"""Per-item envelope bytes beyond body and path (keys, id, seq, receivedAt, uid remap): generous."""

ENVELOPE_OVERHEAD_BYTES = 128


def item_size(row: OutboxRow) -> int:
    return len(row.body.encode()) + len(row.path) + ITEM_OVERHEAD_BYTES


@dataclass(slots=True)
class Plan:
    """``batches``: (bearer, rows) in the order of their oldest row; ``single``: rows too large for any
    batch, to be replayed one by one."""

    batches: list[tuple[str | None, list[OutboxRow]]] = field(default_factory=list)
    single: list[OutboxRow] = field(default_factory=list)


def plan_batches(
    rows: list[OutboxRow], *, bearer: Callable[[str], str | None], max_items: int, max_bytes: int
) -> Plan:
    """Group ``rows`` (already in ``seq`` order) by bearer and cut each group into batches.

    Row order is kept inside every batch. A row whose item alone would exceed ``max_bytes`` goes to
    ``single``: the agent accepts bodies up to 1 MiB, larger than a batch may be.
    """
    plan = Plan()
    open_batches: dict[str | None, tuple[list[OutboxRow], list[int]]] = {}
    budget = max_bytes - ENVELOPE_OVERHEAD_BYTES
    for row in rows:
        size = item_size(row)
        if size > budget:
            plan.single.append(row)
            continue
        key = bearer(row.sec)
        current = open_batches.get(key)
        if current is None or len(current[0]) >= max_items or current[1][0] + size > budget:
            current = ([], [0])
            open_batches[key] = current
            plan.batches.append((key, current[0]))
        current[0].append(row)
        current[1][0] += size
    return plan
