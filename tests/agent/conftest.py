"""Agent tests run with blockbuster: any blocking call (SQLite, file I/O, sleep) made by edge-agent on the
event loop fails the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from blockbuster import BlockBuster, blockbuster_ctx


@pytest.fixture(autouse=True)
def no_blocking_on_the_loop() -> Iterator[BlockBuster]:
    with blockbuster_ctx("edge_agent") as bb:
        yield bb
