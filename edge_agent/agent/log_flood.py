"""Rate-limit log lines that repeat under a flood (accept errors, hang-ups, timeouts, bad requests).

``FloodFilter`` lets one record through per key (logger, level, message template) per interval and
counts the rest; the next record of that key to pass says how many were suppressed. One bad client, or
thousands of them, then costs a line per interval instead of a line (and a traceback) per connection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

FLOOD_INTERVAL_S = 10.0
# Loggers whose records repeat per connection: asyncio's accept errors ("Too many open files"), aiohttp's
# server and protocol errors, and edge-agent's own serving runner.
FLOODED_LOGGERS = ("asyncio", "aiohttp.server", "aiohttp.web", "edge_agent.agent.server")
_MAX_KEYS = 1024  # templates are few; the bound only guards against unusual formatting


class FloodFilter(logging.Filter):
    def __init__(self, interval_s: float = FLOOD_INTERVAL_S, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.interval_s = interval_s
        self._clock = clock
        self._windows: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        started, suppressed = self._windows.get(key, (float("-inf"), 0))
        if now - started < self.interval_s:
            self._windows[key] = (started, suppressed + 1)
            return False
        if len(self._windows) >= _MAX_KEYS and key not in self._windows:
            self._windows.clear()
        self._windows[key] = (now, 0)
        if suppressed:
            record.msg = (
                f"{record.getMessage()} ({suppressed} similar lines suppressed in the last "
                f"{now - started:.0f} s)"
            )
            record.args = None
        return True


def install_flood_filter(interval_s: float = FLOOD_INTERVAL_S) -> FloodFilter:
    """Attach one shared filter to every logger in ``FLOODED_LOGGERS`` (idempotent)."""
    flood = FloodFilter(interval_s)
    for name in FLOODED_LOGGERS:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, FloodFilter)]:
            logger.removeFilter(old)
        logger.addFilter(flood)
    return flood
