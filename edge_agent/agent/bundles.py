"""The active bundle: which one is loaded at start, and the atomic swap to a new one.

At start: ``bundle.path`` when given (an invalid file stops the start, listing every problem), else the
bundle stored in SQLite, else the demo bundle packaged with edge-agent. A new bundle is validated,
compiled, stored (current → previous in one transaction) and only then swapped in; a bad one never
replaces a good one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from edge_agent.agent.decide.compiled import CompiledBundle, compile_bundle
from edge_agent.agent.decide.conditions import ConditionError
from edge_agent.clock import Clock
from edge_agent.errors import BundleInvalid
from edge_agent.storage.bundles import Bundle, load_stored_bundle, parse_bundle, store_bundle
from edge_agent.storage.database import Database

log = logging.getLogger(__name__)

DEMO_SOURCE = "demo"


def demo_bundle_bytes() -> bytes:
    return resources.files("edge_agent").joinpath("data/bundle-demo.json").read_bytes()


@dataclass(slots=True, frozen=True)
class LoadedBundle:
    compiled: CompiledBundle
    version: str
    source: str
    loaded_at: float

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "version": self.version,
            "source": self.source,
            "loadedAt": self.loaded_at,
            "ageSeconds": max(0.0, now - self.loaded_at),
            "campaigns": len(self.compiled.campaigns),
            "segments": len(self.compiled.segments),
            "strategies": len(self.compiled.strategies),
            "catalog": len(self.compiled.catalog),
        }


def compile_checked(bundle: Bundle) -> CompiledBundle:
    try:
        return compile_bundle(bundle)
    except ConditionError as exc:
        raise BundleInvalid("bundle rejected", errors=[str(exc)]) from None


class BundleHolder:
    """Holds the active compiled bundle; readers take ``current`` once per request."""

    def __init__(self) -> None:
        self._current: LoadedBundle | None = None

    @property
    def current(self) -> LoadedBundle | None:
        return self._current

    @property
    def compiled(self) -> CompiledBundle:
        if self._current is None:
            raise RuntimeError("no bundle loaded")
        return self._current.compiled

    def is_stored(self, head: dict[str, Any]) -> bool:
        """True when the active bundle is the stored one described by ``head`` (version, loadedAt)."""
        current = self._current
        return (
            current is not None
            and current.version == head["version"]
            and current.loaded_at == head["loadedAt"]
        )

    def set(self, loaded: LoadedBundle) -> None:
        self._current = loaded

    async def install(
        self, db: Database, raw: bytes | dict[str, Any], *, source: str, clock: Clock, etag: str | None = None
    ) -> LoadedBundle:
        """Validate, compile, store, swap. Raises BundleInvalid and keeps the active bundle on any problem."""
        model, doc = parse_bundle(raw)
        compiled = compile_checked(model)
        now = clock.now()
        await db.write(lambda conn: store_bundle(conn, doc, source=source, now=now, etag=etag))
        loaded = LoadedBundle(compiled=compiled, version=model.version, source=source, loaded_at=now)
        self._current = loaded
        log.info("bundle %s loaded from %s", model.version, source)
        return loaded

    async def reload_stored(self, db: Database) -> LoadedBundle | None:
        """Adopt the bundle another component (the CLI, another process) stored in SQLite.

        The active bundle stays when it is the stored one: same version and same ``loadedAt``, so a
        re-load of the same version (``edge-agent bundle load``) is adopted too.
        """
        stored = await db.read(load_stored_bundle)
        if stored is None:
            return None
        if self.is_stored(stored):
            return self._current
        model, _ = parse_bundle(stored["doc"])
        loaded = LoadedBundle(
            compiled=compile_checked(model),
            version=model.version,
            source=stored["source"],
            loaded_at=stored["loadedAt"],
        )
        self._current = loaded
        return loaded


async def load_initial_bundle(
    holder: BundleHolder, db: Database, bundle_path: Path | None, clock: Clock
) -> None:
    if bundle_path is not None:
        try:
            raw = await asyncio.to_thread(bundle_path.read_bytes)
        except OSError as exc:
            raise BundleInvalid(f"cannot read bundle file {bundle_path}: {exc}") from None
        stored = await db.read(load_stored_bundle)
        model, doc = parse_bundle(raw)
        source = f"file:{bundle_path}"
        if stored is not None and stored["version"] == model.version and stored["source"] == source:
            holder.set(
                LoadedBundle(compile_checked(model), model.version, stored["source"], stored["loadedAt"])
            )
            return
        await holder.install(db, doc, source=source, clock=clock)
        return
    if await _adopt_stored(holder, db, clock):
        return
    await holder.install(db, await asyncio.to_thread(demo_bundle_bytes), source=DEMO_SOURCE, clock=clock)


async def _adopt_stored(holder: BundleHolder, db: Database, clock: Clock) -> bool:
    """The stored bundle, as at the last run; when it no longer validates (a tighter limit in a new
    release, a damaged row), the previous one, installed as current again. A stored bundle is state, not
    configuration: refusing to start on it would make systemd restart the agent in a loop."""
    try:
        return await holder.reload_stored(db) is not None
    except BundleInvalid as exc:
        log.error("stored bundle no longer validates, not used: %s", _problems(exc))
    previous = await db.read(lambda conn: load_stored_bundle(conn, "previous"))
    if previous is None:
        return False
    try:
        await holder.install(db, previous["doc"], source=previous["source"], clock=clock)
    except BundleInvalid as exc:
        log.error("previous stored bundle no longer validates either: %s", _problems(exc))
        return False
    log.warning("serving the previous stored bundle %s instead", previous["version"])
    return True


def _problems(exc: BundleInvalid) -> str:
    return ("; ".join(exc.errors) or str(exc))[:2000]  # a bound: one log line, however broken the bundle
