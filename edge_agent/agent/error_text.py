"""An upstream's error as a person reads it: the one rule ``/status`` and the status page apply.

The sync client keeps a non-2xx answer as ``"<status>: <body>"`` (``sync/client.py``), where the body may
be a JSON envelope or an HTML error page. Shown, that becomes ``"<status> <reason>: <message>"``: the
message of a JSON body (``message``, ``error``, ``detail``, ``title`` or the first of ``errors``), or the
text of any other body with markup and runs of whitespace removed; never the raw body. Everything is cut
to :data:`MAX_CHARS`. Escaping is the renderer's job (``status_page.py``).
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import orjson

MAX_CHARS = 160
_STATUS_PREFIX = re.compile(r"^(\d{3}): ?(.*)$", re.DOTALL)
_TAGS = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_MESSAGE_KEYS = ("message", "error", "detail", "title", "errors", "msg", "description")


def _bounded(text: str) -> str:
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1].rstrip() + "…"


def _message(value: Any, depth: int = 0) -> str | None:
    """The first human message in a decoded JSON body."""
    if isinstance(value, str):
        return value or None
    if depth > 3:
        return None
    if isinstance(value, list):
        for item in value:
            found = _message(item, depth + 1)
            if found:
                return found
        return None
    if isinstance(value, dict):
        for key in _MESSAGE_KEYS:
            if key in value and not isinstance(value[key], bool):
                found = _message(value[key], depth + 1)
                if found:
                    return found
    return None


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


def _body_text(body: str) -> str:
    body = body.strip()
    if body[:1] in ("{", "["):
        try:
            return _message(orjson.loads(body)) or ""
        except orjson.JSONDecodeError:
            pass  # cut short (the client keeps 2,000 characters) or not JSON: shown as text
    return _TAGS.sub(" ", body)


def readable(error: str | None) -> str | None:
    """``error`` as a short line for a person; None stays None."""
    if error is None:
        return None
    match = _STATUS_PREFIX.match(error.strip())
    if match is None:
        return _bounded(error) or None
    status = int(match.group(1))
    head = f"{status} {_reason(status)}"
    text = _bounded(_body_text(match.group(2)))
    return _bounded(f"{head}: {text}" if text else head)
