"""Agent tests run with blockbuster: any blocking call (SQLite, file I/O, sleep) made by edge-agent on the
event loop fails the test."""

from __future__ import annotations

from tests.blocking import no_blocking_on_the_loop

__all__ = ["no_blocking_on_the_loop"]
