"""The one rule for SDK API paths, shared by the agent's router and the upstream client."""

from __future__ import annotations

import re

_SLASHES = re.compile(r"/{2,}")


def sdk_path(path: str) -> str:
    """``path`` as an SDK API path: slashes collapsed, one leading ``/``, one leading ``/v2`` removed
    (SDKs call ``/v2/...``; the upstream's base URL carries the version when it needs one), no trailing
    ``/``. ``"//v2//event/"`` → ``"/event"``, ``"/v2"`` → ``"/"``."""
    path = "/" + _SLASHES.sub("/", path).lstrip("/")
    if path == "/v2" or path.startswith("/v2/"):
        path = path[3:] or "/"
    return path.rstrip("/") or "/"
