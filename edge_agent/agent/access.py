"""Who may call a route: decided from its table entry's access class (``agent/routes/table.py``), never
from the path.

- ``sdk``: with ``auth.api_keys`` set, the bearer must be one of them.
- ``probe``: everyone.
- ``operator``: without ``server.admin_token`` loopback callers only; with it, the bearer from every
  caller, except a person's page (the status page) opened on loopback, since a browser sends none.

A request no entry matches is refused like an SDK call (its 404 or 405 is for callers with a key).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from aiohttp import web

from edge_agent.agent.routes import table
from edge_agent.config.settings import Settings, is_loopback
from edge_agent.errors import Forbidden


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    api_keys: tuple[str, ...]
    admin_token: str | None

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessPolicy:
        admin = settings.server.admin_token
        return cls(
            tuple(k.get_secret_value() for k in settings.auth.api_keys),
            admin.get_secret_value() if admin is not None else None,
        )

    def check(self, request: web.Request, route: table.Route | None) -> None:
        """Raise ``Forbidden`` unless the caller may call ``route`` (the request's matched entry)."""
        access = route.access if route is not None else "sdk"
        if access == "sdk":
            if self.api_keys and not _matches(_bearer(request), self.api_keys):
                raise Forbidden("Authorization: bearer token not accepted")
        elif access == "operator":
            self._check_operator(request, person=route is not None and route.person)

    def _check_operator(self, request: web.Request, *, person: bool) -> None:
        loopback = is_loopback(request.remote or "")
        if person and loopback:
            return
        if self.admin_token is None:
            if not loopback:
                raise Forbidden("Authorization: without server.admin_token, only loopback callers")
            return
        if not _matches(_bearer(request), (self.admin_token,)):
            raise Forbidden("Authorization: a valid admin bearer token is required")


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _matches(token: str | None, accepted: tuple[str, ...]) -> bool:
    return token is not None and any(hmac.compare_digest(token, key) for key in accepted)
