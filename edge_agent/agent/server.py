"""The serving runner: the app on a TCP listener, with the limits aiohttp does not have.

aiohttp closes idle keep-alive connections (``keepalive_timeout``) but waits for request headers and
bodies forever and accepts connections until the process runs out of file descriptors. ``GuardedServer``
(aiohttp's ``web.Server``) makes ``GuardedHandler`` protocols (aiohttp's ``RequestHandler``), which add:

- a header-read timeout: from a connection's opening, or from the first byte of a later request on a
  kept-alive one, to complete headers (408 in the envelope when some bytes came, then closed);
- a body-read timeout: from complete headers to the end of the body (the handler's read raises
  ``RequestTimeout``, answered 408, and the connection is closed);
- a connection cap, ``server.max_connections``, kept under the open-file limit. Over it, the connection
  that has waited longest for a request (idle, or still sending headers) is closed, so a new client is
  always served; only when every connection is mid-request is the new one answered 503;
- aiohttp's own errors (bad request line, oversized headers, bad Content-Length, a malformed method) in
  the JSON envelope, logged as one line, and a client hang-up logged at debug, never as an error.

``run`` serves until SIGTERM or SIGINT, then shuts down gracefully (requests in flight finish, the app's
cleanup contexts commit and close). "listening on …" is logged only once the socket is bound.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import resource
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_exceptions import BadHttpMethod, InvalidURLError, LineTooLong
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler, _RequestFactory

from edge_agent import __version__
from edge_agent.agent.error_envelope import error_body
from edge_agent.agent.log_flood import install_flood_filter
from edge_agent.agent.services import json_response
from edge_agent.config.settings import ServerSettings
from edge_agent.errors import RequestTimeout

log = logging.getLogger(__name__)

BACKLOG = 512  # a burst of SDK connections at start-up must not be refused by the kernel
FD_RESERVE = 256  # descriptors kept for SQLite, logs, upstream calls: never handed to clients


class ListenError(Exception):
    """The listener could not be bound (address in use, not permitted, not local)."""


@dataclass(frozen=True)
class Limits:
    header_timeout_s: float
    body_timeout_s: float
    keepalive_timeout_s: float
    max_connections: int


def raise_open_file_limit(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (up to the hard limit); return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return int(soft) if soft != resource.RLIM_INFINITY else wanted


def limits_for(settings: ServerSettings) -> Limits:
    """The configured limits, with the connection cap kept below the open-file limit."""
    soft = raise_open_file_limit(settings.max_connections + FD_RESERVE)
    cap = min(settings.max_connections, max(1, soft - FD_RESERVE))
    if cap < settings.max_connections:
        log.warning(
            "open-file limit %d allows %d connections, not server.max_connections=%d: raise LimitNOFILE",
            soft,
            cap,
            settings.max_connections,
        )
    return Limits(
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        keepalive_timeout_s=settings.keepalive_timeout_s,
        max_connections=cap,
    )


def raw_error(status: int, errors: list[str]) -> bytes:
    """A complete ``Connection: close`` response in the envelope, for when no request object exists."""
    body = json.dumps(error_body(status, HTTPStatus(status).phrase, errors)).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def _error_field(exc: BaseException | None) -> str:
    if isinstance(exc, BadHttpMethod):
        return "method"
    if isinstance(exc, InvalidURLError):
        return "path"
    if isinstance(exc, LineTooLong):
        return "headers"
    return "request"


def _first_line(text: object) -> str:
    return next(iter(str(text or "").splitlines()), "")


class GuardedHandler(RequestHandler):
    """One client connection: aiohttp's protocol plus header and body timers and cap bookkeeping."""

    def __init__(self, manager: GuardedServer, *, limits: Limits, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = manager
        self._limits = limits
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._awaiting_headers = True
        self._got_bytes = False  # of the request being awaited; a silent connection is closed silently

    # -- connection lifecycle ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if not self._guard.admit(self):
            transport.write(raw_error(503, ["connections: server.max_connections reached"]))  # type: ignore[attr-defined]
            self.force_close()
            return
        self._header_timer = self._loop.call_later(self._limits.header_timeout_s, self._header_timeout)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._guard.release(self)
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers and data:
            self._got_bytes = True
            if self._header_timer is None:
                self._header_timer = self._loop.call_later(
                    self._limits.header_timeout_s, self._header_timeout
                )
        queued = len(self._messages)
        super().data_received(data)
        if self._awaiting_headers and len(self._messages) > queued:
            self._headers_complete()

    def _headers_complete(self) -> None:
        self._awaiting_headers = False
        self._got_bytes = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        self._guard.busy(self)

    def _cancel_timers(self) -> None:
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None

    @property
    def waiting_for_request(self) -> bool:
        return self._awaiting_headers

    # -- timeouts ------------------------------------------------------------------------------------

    def _header_timeout(self) -> None:
        self._header_timer = None
        if not self._awaiting_headers or self.transport is None:
            return
        if self._got_bytes:
            log.info(
                "closed a connection: request headers not complete in %g s", self._limits.header_timeout_s
            )
            self.transport.write(
                raw_error(408, [f"headers: not complete within {self._limits.header_timeout_s:g} s"])
            )
        else:
            log.debug("closed a connection that sent nothing in %g s", self._limits.header_timeout_s)
        self.force_close()

    def body_started(self, payload: StreamReader) -> None:
        if payload.is_eof():
            return
        self._body_timer = self._loop.call_later(self._limits.body_timeout_s, self._body_timeout, payload)
        payload.on_eof(self._cancel_body_timer)

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_timeout(self, payload: StreamReader) -> None:
        self._body_timer = None
        if payload.is_eof():
            return
        log.info("request body not complete in %g s: answering 408", self._limits.body_timeout_s)
        self.close()  # the rest of the body is never read: the connection ends after the answer
        payload.set_exception(RequestTimeout(f"body: not complete within {self._limits.body_timeout_s:g} s"))
        payload.feed_eof()  # nothing left to linger over

    # -- responses -----------------------------------------------------------------------------------

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        self._cancel_body_timer()
        try:
            return await super().finish_response(request, resp, start_time)
        finally:
            if not self._messages:
                self._awaiting_headers = True
                self._guard.waiting(self)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's answer to what it could not parse, or to a handler's uncaught error: the envelope."""
        if isinstance(exc, ConnectionError):
            log.debug("client hung up during a request: %s", type(exc).__name__)
        elif status >= 500:
            log.error("error handling a request: %s", exc, exc_info=exc)
        else:
            log.info("bad request (%d): %s", status, _first_line(message or exc))
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send an error response")
        if status >= 500:
            errors = ["internal error"]
        else:
            # aiohttp's messages quote the offending line under a caret on further lines: keep the first.
            detail = _first_line(message or exc) or HTTPStatus(status).phrase
            errors = [f"{_error_field(exc)}: {detail}"]
        resp = json_response(error_body(status, HTTPStatus(status).phrase, errors), status=status)
        resp.force_close()
        return resp


class GuardedServer(web.Server):
    """aiohttp's low-level server making ``GuardedHandler``s, and the connection cap's books."""

    def __init__(
        self,
        handler: Any,
        *,
        request_factory: _RequestFactory,
        limits: Limits,
        handler_cancellation: bool = False,
        **handler_kwargs: Any,
    ) -> None:
        super().__init__(
            handler, request_factory=self._guarded_request, handler_cancellation=handler_cancellation
        )
        self._inner_factory = request_factory
        self._handler_kwargs = handler_kwargs
        self.limits = limits
        self._open: set[GuardedHandler] = set()
        # Connections waiting for a request, oldest first (dicts keep insertion order): eviction order.
        self._idle: dict[GuardedHandler, None] = {}

    def __call__(self) -> GuardedHandler:
        return GuardedHandler(
            self, loop=asyncio.get_running_loop(), limits=self.limits, **self._handler_kwargs
        )

    def _guarded_request(
        self,
        message: RawRequestMessage,
        payload: StreamReader,
        protocol: RequestHandler,
        writer: AbstractStreamWriter,
        task: asyncio.Task[None],
    ) -> web.BaseRequest:
        if isinstance(protocol, GuardedHandler):
            protocol.body_started(payload)
        return self._inner_factory(message, payload, protocol, writer, task)

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def admit(self, handler: GuardedHandler) -> bool:
        if len(self._open) >= self.limits.max_connections:
            if not self._idle:
                log.warning("connection refused: %d connections open, all mid-request", len(self._open))
                return False
            oldest = next(iter(self._idle))
            log.info(
                "connection cap %d reached: closing the longest-waiting one", self.limits.max_connections
            )
            self.release(oldest)
            oldest.force_close()
        self._open.add(handler)
        self._idle[handler] = None
        return True

    def waiting(self, handler: GuardedHandler) -> None:
        if handler in self._open:
            self._idle.pop(handler, None)
            self._idle[handler] = None

    def busy(self, handler: GuardedHandler) -> None:
        self._idle.pop(handler, None)

    def release(self, handler: GuardedHandler) -> None:
        self._open.discard(handler)
        self._idle.pop(handler, None)


class GuardedRunner(web.AppRunner):
    """``web.AppRunner`` serving through a ``GuardedServer``."""

    def __init__(self, app: web.Application, limits: Limits, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._limits = limits

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return GuardedServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            limits=self._limits,
            keepalive_timeout=self._limits.keepalive_timeout_s,
            access_log=None,
        )


def _loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio's errors (e.g. accept failing with EMFILE) as one flood-limited line, not a traceback each."""
    exc = context.get("exception")
    template = str(context.get("message", "event loop error")).replace("%", "%%") + ": %s"
    if isinstance(exc, ConnectionError):
        log.debug(template, exc)
    elif isinstance(exc, OSError):
        log.error(template, exc)
    else:
        log.error(template, exc, exc_info=exc)


@asynccontextmanager
async def serving(app: web.Application, settings: ServerSettings) -> AsyncIterator[GuardedRunner]:
    """Start the app (cleanup contexts), bind the listener, yield the runner; clean up on exit.

    Raises what the app's start raises (``BundleInvalid``, ``StorageUnavailable``) and ``ListenError``
    when the address cannot be bound; nothing has been reported as listening then.
    """
    runner = GuardedRunner(app, limits_for(settings))
    try:
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port, backlog=BACKLOG)
        try:
            await site.start()
        except OSError as exc:
            raise ListenError(f"cannot listen on {settings.host}:{settings.port}: {exc}") from exc
        yield runner
    finally:
        await runner.cleanup()


def bound_port(runner: web.BaseRunner) -> int:
    return int(runner.addresses[0][1])


def _freeze_startup_heap() -> None:
    """Put what start-up built (modules, settings, the compiled bundle: ~100,000 objects with a 200-campaign
    bundle) out of the cyclic collector's reach: each full collection walked all of it again, and under load
    one ran every few hundred requests. Those objects live as long as the process; a bundle replaced later
    leaves only its few reference cycles (~115 objects for 200 campaigns) uncollected."""
    gc.collect()
    gc.freeze()


async def serve_until_signalled(app: web.Application, settings: ServerSettings, database: str) -> None:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_loop_exception)
    install_flood_filter()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serving(app, settings) as runner:
        _freeze_startup_heap()
        log.info(
            "edge-agent %s listening on http://%s:%d (database %s)",
            __version__,
            settings.host,
            bound_port(runner),
            database,
        )
        await stop.wait()
        log.info("stopping: finishing requests in flight")


def run(app: web.Application, settings: ServerSettings, *, database: str) -> None:
    """Serve ``app`` until SIGTERM/SIGINT. Start-up errors propagate to the caller (the CLI)."""
    asyncio.run(serve_until_signalled(app, settings, database))
