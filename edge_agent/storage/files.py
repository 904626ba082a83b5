"""Owner-only files: the database, its ``-wal``/``-shm``, exports and the data directory hold personal data.

New files are created 0600 and the directory 0700; SQLite gives ``-wal`` and ``-shm`` the mode of the
database file, so creating that one 0600 before SQLite opens it covers all three. Existing files and the
directory are tightened at start (:func:`tighten`), and what was tightened is returned for the log.

A directory is tightened only when this user owns it and it is not sticky: a database configured at
``/tmp/agent.db`` must not make ``/tmp`` private.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO

FILE_MODE = 0o600
DIR_MODE = 0o700
SIDE_SUFFIXES = ("-wal", "-shm")


def side_files(db_path: Path) -> list[Path]:
    """The database and the files SQLite keeps beside it."""
    return [db_path, *(db_path.with_name(db_path.name + s) for s in SIDE_SUFFIXES)]


def _tighten(path: Path, mode: int) -> str | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    current = stat.S_IMODE(st.st_mode)
    if current & ~mode & 0o777 == 0:
        return None
    os.chmod(path, current & mode)
    return f"{path} {current:04o} -> {current & mode:04o}"


def private_dir(path: Path) -> list[str]:
    """Create ``path`` (and parents) 0700, or tighten it if it is ours; returns what was tightened."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    st = path.stat()
    if st.st_uid != os.getuid() or st.st_mode & stat.S_ISVTX:
        return []
    done = _tighten(path, DIR_MODE)
    return [done] if done else []


def prepare_database_files(db_path: Path) -> list[str]:
    """Before SQLite opens ``db_path``: a private directory, the file made 0600, existing ones tightened."""
    tightened = private_dir(db_path.parent)
    os.close(os.open(db_path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    for path in side_files(db_path):
        done = _tighten(path, FILE_MODE)
        if done:
            tightened.append(done)
    return tightened


def open_private_text(path: Path) -> IO[str]:
    """Open ``path`` for writing as 0600 text (an existing file is truncated and tightened)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) & FILE_MODE)
    return os.fdopen(fd, "w", encoding="utf-8")
