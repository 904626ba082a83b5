"""The serving runner (agent/server.py) on a real loopback listener, driven with raw sockets: aiohttp's own
errors in the envelope, header/body/keep-alive timeouts, the connection cap, and hang-ups that are not
errors."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from edge_agent.agent.app import create_app
from edge_agent.agent.log_flood import FloodFilter
from edge_agent.agent.server import GuardedServer, bound_port, serving
from edge_agent.config.settings import Settings
from tests.helpers import envelope

ROOT = Path(__file__).resolve().parents[2]
JSON_POST = (
    b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
)
FAST = {"header_timeout_s": 0.4, "body_timeout_s": 0.4, "keepalive_timeout_s": 0.4}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def agent(
    make_settings: Callable[..., Settings], **server: Any
) -> AsyncIterator[tuple[int, GuardedServer]]:
    settings = make_settings(server={"port": free_port(), **FAST, **server})
    async with serving(create_app(settings), settings.server) as runner:
        assert isinstance(runner.server, GuardedServer)
        yield bound_port(runner), runner.server


async def exchange(port: int, data: bytes, *, seconds: float = 3.0) -> tuple[bytes, float]:
    """Send ``data``, read until the server closes; return what came back and how long the close took."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(data)
    try:
        received = await asyncio.wait_for(reader.read(), seconds)
    finally:
        writer.close()
    return received, time.monotonic() - started


def envelope_of(response: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"application/json" in head, head
    return status, orjson.loads(body)


def is_envelope(doc: dict[str, Any], status: int) -> bool:
    return (
        doc["ok"] is False
        and doc["status"] == status
        and isinstance(doc["error"], str)
        and isinstance(doc["errors"], list)
        and all(isinstance(e, str) and ": " in e for e in doc["errors"])
    )


@pytest.mark.parametrize(
    ("request_bytes", "field"),
    [
        (b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", "headers"),
        (b"GET /" + b"v" * 9000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "headers"),
        (b"POST /visit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n", "request"),
        (
            b"POST /visit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "request",
        ),
        (b"B@D /visit HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "method"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "method"),  # TLS on the plain port
    ],
    ids=[
        "header-too-long",
        "request-line-too-long",
        "bad-content-length",
        "two-content-lengths",
        "bogus-method",
        "tls",
    ],
)
async def test_errors_aiohttp_writes_itself_come_in_the_envelope(
    make_settings: Callable[..., Settings], request_bytes: bytes, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with agent(make_settings) as (port, _):
        response, _ = await exchange(port, request_bytes)
    status, doc = envelope_of(response)
    assert status == 400 and is_envelope(doc, 400), doc
    assert doc["errors"][0].startswith(f"{field}: "), doc
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_slow_headers_get_408_at_the_header_timeout_and_are_closed(
    make_settings: Callable[..., Settings],
) -> None:
    async with agent(make_settings, header_timeout_s=0.5, keepalive_timeout_s=30) as (port, _):
        response, took = await exchange(port, b"POST /visit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-")
    status, doc = envelope_of(response)
    assert status == 408 and is_envelope(doc, 408) and doc["errors"][0].startswith("headers: ")
    assert 0.4 <= took < 1.5


async def test_trickled_headers_do_not_extend_the_header_timeout(
    make_settings: Callable[..., Settings],
) -> None:
    async with agent(make_settings, header_timeout_s=0.5, keepalive_timeout_s=30) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        head = b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 40
        closed = asyncio.create_task(reader.read())
        for byte in head:  # one byte every 50 ms: 2.2 s for the whole head, were it allowed
            if closed.done():
                break
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.sleep(0.05)
        received = await asyncio.wait_for(closed, 2)
        took = time.monotonic() - started
        writer.close()
    assert received.startswith(b"HTTP/1.1 408"), received
    assert took < 1.5


async def test_a_connection_that_sends_nothing_is_closed_silently(
    make_settings: Callable[..., Settings],
) -> None:
    async with agent(make_settings, header_timeout_s=0.4, keepalive_timeout_s=30) as (port, _):
        response, took = await exchange(port, b"")
    assert response == b"" and 0.3 <= took < 1.5


async def test_a_slow_body_gets_408_at_the_body_timeout(make_settings: Callable[..., Settings]) -> None:
    head = JSON_POST % (b"/visit", 500)
    async with agent(make_settings, body_timeout_s=0.5, keepalive_timeout_s=30) as (port, _):
        response, took = await exchange(port, head + b'{"sec": ')
    status, doc = envelope_of(response)
    assert status == 408 and is_envelope(doc, 408) and doc["errors"][0].startswith("body: "), doc
    assert 0.4 <= took < 1.5


async def test_a_complete_body_is_not_cut_by_the_body_timeout(make_settings: Callable[..., Settings]) -> None:
    body = orjson.dumps(envelope())
    head = (
        b"POST /visit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    async with agent(make_settings, body_timeout_s=0.3) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head + body[:10])
        await asyncio.sleep(0.15)
        writer.write(body[10:])
        response = await asyncio.wait_for(reader.read(), 3)
        writer.close()
        await asyncio.sleep(0.4)  # past the body timeout: the finished request's timer must not fire
    assert response.startswith(b"HTTP/1.1 200"), response[:200]


async def test_idle_keep_alive_connections_close_after_the_keep_alive_timeout(
    make_settings: Callable[..., Settings],
) -> None:
    async with agent(make_settings, keepalive_timeout_s=0.6) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = await asyncio.wait_for(reader.readuntil(b"}"), 3)
        answered = time.monotonic()
        rest = await asyncio.wait_for(reader.read(), 3)
        idle = time.monotonic() - answered
        writer.close()
    assert first.startswith(b"HTTP/1.1 200") and rest == b""
    assert 0.5 <= idle < 2.0


async def open_idle(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await asyncio.wait_for(reader.readuntil(b"}"), 3)
    return reader, writer


async def test_at_the_cap_the_longest_idle_connection_makes_room(
    make_settings: Callable[..., Settings],
) -> None:
    async with agent(make_settings, max_connections=3, keepalive_timeout_s=30) as (port, server):
        idle = [await open_idle(port) for _ in range(3)]
        assert server.open_connections == 3
        response, _ = await exchange(
            port, b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        assert response.startswith(b"HTTP/1.1 200"), response
        oldest_closed = await asyncio.wait_for(idle[0][0].read(), 2)
        still_open = [not reader.at_eof() for reader, _ in idle[1:]]
        for _, writer in idle:
            writer.close()
    assert oldest_closed == b"" and all(still_open)


async def test_at_the_cap_with_every_connection_mid_request_the_new_one_gets_503(
    make_settings: Callable[..., Settings],
) -> None:
    head = JSON_POST % (b"/visit", 50) + b"{"
    async with agent(make_settings, max_connections=2, body_timeout_s=30, keepalive_timeout_s=30) as (
        port,
        _,
    ):
        busy = []
        for _ in range(2):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head)
            busy.append((reader, writer))
        await asyncio.sleep(0.2)
        response, _ = await exchange(port, b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        for _, writer in busy:
            writer.close()
    status, doc = envelope_of(response)
    assert status == 503 and is_envelope(doc, 503), doc


async def test_a_client_hang_up_is_not_an_error(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    head = JSON_POST % (b"/event", 4000)
    async with agent(make_settings, body_timeout_s=30, keepalive_timeout_s=30) as (port, _):
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(head + b'{"sec": "x", ')
            await asyncio.sleep(0.05)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, not FIN
            sock.close()
            await asyncio.sleep(0.05)
        response, _ = await exchange(
            port, b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
    assert response.startswith(b"HTTP/1.1 200")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info], [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info
    ]
    hang_ups = [r for r in caplog.records if "hung up" in r.getMessage()]
    assert 1 <= len(hang_ups) <= 5


def test_the_flood_filter_lets_one_line_per_key_per_interval_and_counts_the_rest() -> None:
    now = [0.0]
    flood = FloodFilter(interval_s=10, clock=lambda: now[0])
    logger = logging.getLogger("test.flood")

    def record(msg: str, *args: object) -> logging.LogRecord:
        return logger.makeRecord(logger.name, logging.ERROR, __file__, 1, msg, args, None)

    passed = [flood.filter(record("accept failed: %s", n)) for n in range(1000)]
    assert passed.count(True) == 1 and passed[0]
    assert flood.filter(record("another line"))  # another key has its own window
    now[0] = 10.5
    late = record("accept failed: %s", "EMFILE")
    assert flood.filter(late)
    assert late.getMessage() == "accept failed: EMFILE (999 similar lines suppressed in the last 10 s)"
    assert not flood.filter(record("accept failed: %s", "again"))


def test_serve_on_a_busy_port_exits_1_with_one_line_and_never_says_listening(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "edge_agent",
                "serve",
                "--port",
                str(port),
                "--db",
                str(tmp_path / "a.db"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
    assert done.returncode == 1
    assert "listening" not in done.stderr + done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and f"cannot listen on 127.0.0.1:{port}" in errors[0]
