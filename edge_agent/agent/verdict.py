"""One plain-language verdict from the ``/status`` figures: what a person at the kiosk needs to know first.

Working offline is normal: no upstream configured, or one that cannot be reached while the queue keeps
everything. The faults are storage that does not take writes, no bundle to decide with, and dead letters
(rows the upstream refused for good). An upstream that answers but refuses (``degraded``, ``paused``)
needs attention. ``/status`` ``verdict`` and the status page both come from :func:`verdict`.
"""

from __future__ import annotations

from typing import Any, Literal

Level = Literal["ok", "offline", "attention", "fault"]


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def verdict(status: dict[str, Any]) -> dict[str, Any]:
    """``{level, title, detail, since}``; ``since`` is when the state the verdict names began (unix s)."""
    storage, sync, queue = status["storage"], status["sync"], status["queue"]
    waiting = _plural(queue["pending"] or 0, "message waits", "messages wait")  # null: unreadable
    level: Level
    if storage.get("state") in ("degraded", "unavailable"):
        failing = "failing" if storage["state"] == "degraded" else "not open"
        level, title = "fault", f"Not saving: storage is {failing}"
        reason = (storage.get("reason") or "writes fail").rstrip(".")
        detail = f"{reason}. The app gets 503 answers until it recovers."
        since = storage.get("since")
    elif status["bundle"] is None:
        level, title, since = "fault", "Not ready: no bundle loaded", None
        detail = "Without rules and content the agent cannot answer the app."
    elif queue["deadLetter"]:
        level = "fault"
        title = f"{_plural(queue['deadLetter'], 'message', 'messages')} could not be delivered"
        detail = "The upstream refused them for good; see Dead letters below, retry or purge them."
        since = None  # rows keep no time of death; the page shows when the last one was received
    elif sync["state"] in ("degraded", "paused"):
        level, title = "attention", "The upstream refuses to sync"
        error = (sync.get("lastError") or "it answers with errors").rstrip(".")
        detail = f"{error}. {waiting} and will be sent later."
        since = sync.get("stateSince")
    elif not sync.get("configured"):
        level, title = "offline", "Working offline"
        kept = _plural(queue["pending"] or 0, "message", "messages")
        detail = f"No upstream is configured: everything the app sends is kept here ({kept} so far)."
        since = sync.get("stateSince")
    elif sync["state"] == "offline":
        level, title = "offline", "Working offline"
        detail = f"The upstream cannot be reached; {waiting} and will be sent when it is back."
        since = sync.get("stateSince")
    else:
        level, title = "ok", "Working and in sync"
        detail = f"The upstream answers. {waiting} to sync."
        since = sync.get("stateSince")
    return {"level": level, "title": title, "detail": detail, "since": since}
