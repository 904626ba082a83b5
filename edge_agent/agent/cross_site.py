"""What a browser page may reach: the Host allow-list, the Origin rules, JSON-only writes and opt-in CORS.

A page in the kiosk's browser can send "simple" cross-site requests (``text/plain``, form and multipart
bodies need no preflight) and, through DNS rebinding, read answers under a foreign name. Native SDKs send
no ``Origin`` and no ``Sec-Fetch-*`` and always a JSON content type on POST (sdk-wire-contract §1.3), so:

- ``Host`` must name the agent: its listener address, localhost, 127.0.0.1, ::1, the host of
  ``server.public_url`` or one of ``server.allowed_hosts`` — else 421.
- An ``Origin`` must be the agent's own (the page it serves) or, on SDK routes, one of
  ``server.cors_origins``; ``Sec-Fetch-Site: cross-site`` without such an origin — else 403.
- Every write (any method but GET, HEAD, OPTIONS) declares a JSON body: ``application/json`` or
  ``application/<x>+json``, any parameters (``; charset=utf-8``) — else 415. No browser can send that
  cross-site without a preflight, which only ``server.cors_origins`` answers.

The pipeline (``agent/pipeline.py``) screens every request here before auth and before any handler reads
a body.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from edge_agent.agent.routes import table
from edge_agent.config.settings import Settings
from edge_agent.errors import Forbidden, MisdirectedRequest, UnsupportedMediaType

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})
_CORS_METHODS = "GET, POST"
_CORS_HEADERS = "Authorization, Content-Type"


@dataclass(frozen=True)
class CrossSitePolicy:
    hosts: frozenset[str]  # allowed Host names besides the address the connection came in on
    public_origin: str | None
    cors_origins: frozenset[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> CrossSitePolicy:
        server = settings.server
        hosts = {"localhost", "127.0.0.1", "::1", *server.allowed_hosts}
        if server.host not in _WILDCARD_HOSTS:
            hosts.add(server.host.strip("[]").lower())
        public_origin = None
        if server.public_url is not None:
            public = urlsplit(str(server.public_url))
            hosts.add((public.hostname or "").lower())
            public_origin = f"{public.scheme}://{public.netloc}".lower()
        return cls(frozenset(hosts), public_origin, frozenset(server.cors_origins))

    def host_allowed(self, request: web.Request) -> bool:
        header = request.headers.get("Host")
        if header is None:
            return True  # HTTP/1.0 without Host: no name to rebind
        name = host_name(header)
        return name in self.hosts or name == _listener_address(request)

    def own_origin(self, request: web.Request, origin: str) -> bool:
        """The origin of the page the agent itself serves (the status page), under the Host just checked."""
        own = {f"{scheme}://{request.headers.get('Host', '')}".lower() for scheme in ("http", "https")}
        return origin in own or origin == self.public_origin


def host_name(header: str) -> str:
    """``Host`` without its port, lower case: ``[::1]:8787`` → ``::1``, ``Kiosk.:8787`` → ``kiosk``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    if header.count(":") == 1:
        header = header.partition(":")[0]
    return header.rstrip(".")


def _listener_address(request: web.Request) -> str | None:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if isinstance(sockname, tuple) and sockname:
        return str(sockname[0]).lower()
    return None


def is_json_media_type(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def _check_origin(request: web.Request, policy: CrossSitePolicy, route: table.Route | None) -> str | None:
    """The configured CORS origin this request comes from (to echo), ``None`` for no browser origin."""
    origin = request.headers.get("Origin")
    if origin is not None:
        origin = origin.strip().lower()
        if policy.own_origin(request, origin):
            return None
        sdk_route = route is None or route.access != "operator"
        if origin in policy.cors_origins and sdk_route:
            return origin
        raise Forbidden(f"Origin: {origin!r} is not allowed to call this agent")
    if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        raise Forbidden("Sec-Fetch-Site: cross-site requests are refused")
    return None


def _preflight(request: web.Request, policy: CrossSitePolicy) -> web.StreamResponse | None:
    method = request.headers.get("Access-Control-Request-Method")
    if request.method != "OPTIONS" or method is None:
        return None
    origin = (request.headers.get("Origin") or "").strip().lower()
    route = table.match(request, method=method.upper())
    if origin not in policy.cors_origins or route is None or route.access == "operator":
        raise Forbidden(f"Origin: {origin!r} may not call {method} {request.path}")
    response = web.Response(status=204)
    response.headers.update(
        {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": _CORS_METHODS,
            "Access-Control-Allow-Headers": _CORS_HEADERS,
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        }
    )
    return response


_cors_origin_key = web.RequestKey("cors_origin", str)


def screen(
    request: web.Request, policy: CrossSitePolicy, route: table.Route | None
) -> web.StreamResponse | None:
    """Refuse (421, 403, 415) what a page may not send; answer a CORS preflight (returned); else ``None``
    and the request goes on. ``route``: the request's matched table entry."""
    if not policy.host_allowed(request):
        raise MisdirectedRequest(f"Host: {request.headers.get('Host')!r} is not a name of this agent")
    preflight = _preflight(request, policy)
    if preflight is not None:
        return preflight
    cors_origin = _check_origin(request, policy, route)
    if cors_origin is not None:
        request[_cors_origin_key] = cors_origin
    if request.method not in SAFE_METHODS and not is_json_media_type(request.headers.get("Content-Type", "")):
        got = request.headers.get("Content-Type")
        raise UnsupportedMediaType(
            f"Content-Type: a write needs application/json (got {got!r})"
            if got
            else "Content-Type: a write needs application/json (none given)"
        )
    return None


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: error envelopes too carry the header, so the page can read why."""
    origin = request.get(_cors_origin_key)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"


def install(app: web.Application) -> None:
    app.on_response_prepare.append(add_cors_headers)
