"""Logging set-up: ``text`` or ``json`` lines, each carrying the request id of the request it belongs to.

The request pipeline (``agent/pipeline.py``) sets ``request_id`` (a ``ContextVar``) for the life of a
request, so a line logged anywhere under that request (handlers, services, the writer's caller) carries
it; lines outside any request carry ``-``. The access log is the logger ``edge_agent.access``; the
pipeline writes to it only when ``logging.access_log`` is on.
"""

from __future__ import annotations

import json
import logging
import time
from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="-")
access_log = logging.getLogger("edge_agent.access")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
# Fields of a LogRecord that are not extras a caller passed.
_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, request id, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "requestId": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS:
                line[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class _OwnHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Ours, so a second configure_logging replaces it and leaves other handlers (a test's) alone."""


def configure_logging(level: str, fmt: str = "text") -> None:
    """Root handler on stderr; replaces the one an earlier call installed (and no one else's)."""
    handler = _OwnHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _OwnHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # APScheduler logs every run of the one-second pull tick at INFO.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # The access log is asked for by its own setting (the pipeline checks it): shown at any root level.
    access_log.setLevel(logging.INFO)
