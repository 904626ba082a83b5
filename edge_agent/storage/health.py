"""Whether the database takes writes: one state, set by the writer thread, read by the probes.

The writer marks the storage ``degraded`` (with SQLite's reason) when a commit fails or a write fails for
lack of storage (disk full, I/O error, locked), and ``ok`` again after the next group that commits a
write; while degraded and idle, the writer commits a probe row every few seconds, so it heals with no
traffic. ``/readyz`` and ``/status`` read :attr:`Database.health`; nothing else keeps a copy.

Corruption (``SQLITE_CORRUPT``, ``SQLITE_NOTADB``) is told apart from the rest because it does not heal
by itself: the database is moved aside and replaced (``storage/recovery.py``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Literal

# Primary result codes (the low byte of an extended code).
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
_CORRUPT_MARKERS = ("database disk image is malformed", "file is not a database")


def is_corrupt(exc: BaseException) -> bool:
    """True for an error that says the file itself is damaged."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _CORRUPT_MARKERS)


@dataclass(frozen=True, slots=True)
class Health:
    state: Literal["ok", "degraded"]
    reason: str | None
    since: float

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    def as_dict(self) -> dict[str, object]:
        return {"state": self.state, "reason": self.reason, "since": self.since}
