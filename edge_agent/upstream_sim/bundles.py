"""Bundle versions from a directory, and the deltas between them.

Layout: every ``*.json`` file in the directory is one full bundle with a string ``"version"``. Versions
are ordered by **file name** (plain string sort), so name files with a zero-padded counter
(``0001-demo-1.json``, ``0002-demo-2.json``); the last one is the current bundle. Files that are not
JSON objects with a string ``version`` are skipped with a warning. If two files carry the same version,
the later file wins.

Bundles are opaque JSON here: only the top-level keys and the id field of each collection are read, so
this module never depends on the agent's bundle schema. Not async: call it from a worker thread.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from edge_agent.storage.bundles import COLLECTIONS

log = logging.getLogger(__name__)

# Top-level keys a delta can express; a change anywhere else (schema, sections, …) forces a full answer.
_DELTA_KEYS = {"version", "generatedAt", *COLLECTIONS}
_COUNTER = re.compile(r"^(\d+)-")


class BundleConflict(Exception):
    """The bundle cannot be added: its version exists, or its file would not sort last."""


@dataclass(frozen=True, slots=True)
class BundleVersion:
    version: str
    file: str
    bundle: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BundleAnswer:
    """What ``GET /edge/v1/bundle`` answers: 200 with ``body``, 304, or 404 when there is no bundle."""

    status: int
    etag: str | None = None
    body: dict[str, Any] | None = None


def etag_for(version: str) -> str:
    return f'"{version}"'


def etag_matches(if_none_match: str | None, version: str) -> bool:
    """True when an ``If-None-Match`` value (``*``, a list, weak or unquoted tags) names this version."""
    if not if_none_match:
        return False
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return any(tag == "*" or tag.removeprefix("W/").strip('"') == version for tag in tags)


def diff_bundles(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """The delta answer turning ``base`` into ``new``, or None when only a full answer can express it.

    An item is upserted when its id is new or its JSON differs; deleted when its id is gone. Items
    without a string or integer id, or a change to a top-level key outside the collections, give None.
    """
    if any(base.get(key) != new.get(key) for key in (base.keys() | new.keys()) - _DELTA_KEYS):
        return None
    upserts: dict[str, list[Any]] = {}
    deletes: dict[str, list[Any]] = {}
    for name, id_key in COLLECTIONS.items():
        old_items, new_items = base.get(name) or [], new.get(name) or []
        if not all(
            isinstance(item, dict) and isinstance(item.get(id_key), str | int)
            for item in [*old_items, *new_items]
        ):
            return None
        old = {item[id_key]: item for item in old_items}
        upserts[name] = [item for item in new_items if old.get(item[id_key]) != item]
        kept = {item[id_key] for item in new_items}
        deletes[name] = [item_id for item_id in old if item_id not in kept]
    delta: dict[str, Any] = {"full": False, "base": base["version"], "version": new["version"]}
    if "generatedAt" in new:
        delta["generatedAt"] = new["generatedAt"]
    return delta | {"upserts": upserts, "deletes": deletes}


class BundleDirectory:
    """The versions in ``directory``, re-read when files change (parsed files are cached by mtime/size)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: dict[Path, tuple[tuple[int, int], dict[str, Any] | None]] = {}
        self._lock = threading.Lock()

    def versions(self) -> list[BundleVersion]:
        """All valid versions, oldest first (by file name)."""
        with self._lock:
            return self._versions()

    def _versions(self) -> list[BundleVersion]:
        found: list[BundleVersion] = []
        for path in sorted(self.directory.glob("*.json")) if self.directory.is_dir() else []:
            bundle = self._read(path)
            if bundle is not None:
                found.append(BundleVersion(bundle["version"], path.name, bundle))
        return found

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed since the listing
            return None
        key = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        bundle: dict[str, Any] | None
        try:
            bundle = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            log.warning("skipping bundle file %s: %s", path, exc)
            bundle = None
        if bundle is not None and not (isinstance(bundle, dict) and isinstance(bundle.get("version"), str)):
            log.warning("skipping bundle file %s: not an object with a string version", path)
            bundle = None
        self._cache[path] = (key, bundle)
        return bundle

    def answer(self, since: str | None, if_none_match: str | None) -> BundleAnswer:
        """304 when the caller has the current version (by ETag or ``since``), a delta from a known
        ``since``, else the full current bundle; 404 when the directory holds no bundle."""
        versions = self.versions()
        if not versions:
            return BundleAnswer(404)
        current = versions[-1]
        etag = etag_for(current.version)
        if since == current.version or etag_matches(if_none_match, current.version):
            return BundleAnswer(304, etag)
        base = {v.version: v.bundle for v in versions}.get(since) if since else None
        delta = diff_bundles(base, current.bundle) if base is not None else None
        return BundleAnswer(200, etag, delta if delta is not None else {"full": True, **current.bundle})

    def add(self, bundle: dict[str, Any]) -> BundleVersion:
        """Write ``bundle`` as the new current version, named ``<next counter>-<version>.json``.

        Raises ValueError when it has no string version, BundleConflict when the version exists or the
        new name would not sort after every existing file (names without a numeric counter).
        """
        version = bundle.get("version")
        if not isinstance(version, str) or not version:
            raise ValueError("a bundle needs a non-empty string version")
        with self._lock:
            existing = self._versions()
            if any(v.version == version for v in existing):
                raise BundleConflict(f"version {version!r} already exists")
            names = (
                sorted(path.name for path in self.directory.glob("*.json")) if self.directory.is_dir() else []
            )
            counters = [int(match.group(1)) for name in names if (match := _COUNTER.match(name))]
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", version)
            name = f"{max(counters, default=0) + 1:04d}-{safe}.json"
            if names and name <= names[-1]:
                raise BundleConflict(
                    f"{name} would not sort after {names[-1]}; name bundle files NNNN-*.json"
                )
            self.directory.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a concurrent poll never reads half a file.
            tmp = self.directory / f".{name}.tmp"
            tmp.write_bytes(orjson.dumps(bundle))
            tmp.replace(self.directory / name)
            return BundleVersion(version, name, bundle)
