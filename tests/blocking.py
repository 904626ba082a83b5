"""The autouse guard of the agent and sync tests, defined once: any blocking call (SQLite, file I/O,
sleep) that edge-agent code makes on the event loop fails the test. A conftest imports it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from blockbuster import BlockBuster, blockbuster_ctx


@pytest.fixture(autouse=True)
def no_blocking_on_the_loop() -> Iterator[BlockBuster]:
    with blockbuster_ctx("edge_agent") as bb:
        yield bb
