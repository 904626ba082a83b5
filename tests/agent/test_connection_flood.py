"""Acceptance: 2,000 idle keep-alive connections plus 500 that send their headers a byte at a time do not
slow normal requests (< 50 ms), and the server closes both kinds after their configured timeouts.

The real daemon runs as a subprocess (``python -m edge_agent serve``) on a free loopback port with short
timeouts. Counts can be lowered for a quick local run: ``EDGE_AGENT_FLOOD_IDLE``/``_SLOW``.

Every one of the timed requests must answer in under 50 ms. What used to make one slower was never the
daemon, and each cause is removed here rather than the bound loosened:

- the timing client shared a process (the GIL, a busy event loop) with the 2,500 held connections: it
  runs in its own (``tests/agent/flood_client.py``);
- a /visit commits with ``fsync``, up to 280 ms on this machine's shared disk: the database is on tmpfs
  (the commit's cost is bench/ingest.py's figure, not this test's);
- the machine's other work (load averages of 30-80 on 2 cores while CI runs beside other suites): the
  daemon and the timing client run on SCHED_RR where permitted (``shield_from_neighbours``); the
  connection holder does not, so the flood is not shielded. Measured: 100 requests max 5 ms shielded.

The requests are spread over about 3 s, so a daemon that stalls its loop fails the test: an injected
80 ms block every 0.5 s made the slowest 88 ms.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.agent import flood_client

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
IDLE = int(os.environ.get("EDGE_AGENT_FLOOD_IDLE", "2000"))
SLOW = int(os.environ.get("EDGE_AGENT_FLOOD_SLOW", "500"))
TIMED = 100
KEEPALIVE_S = 20.0
HEADER_S = 15.0
MARGIN_S = 3.0  # how late a close may come: timers are coarse and CI machines are shared
BOUND_MS = 50.0
SLOW_HEAD = (
    b"POST /visit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Pad: " + b"p" * 200
)


LOW_LIMIT_LAUNCHER = (
    "import resource, runpy; resource.setrlimit(resource.RLIMIT_NOFILE, (%d, %d)); "
    "runpy.run_module('edge_agent', run_name='__main__')"
)
SHIELDED_LAUNCHER = (
    "import runpy; from tests.agent.flood_client import shield_from_neighbours; shield_from_neighbours(); "
    "runpy.run_module('edge_agent', run_name='__main__')"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def memory_db(tmp_path: Path) -> Iterator[Path]:
    """The database on tmpfs when there is one. This test is about connections: on a disk shared with
    other work, one ``fsync`` of a /visit's commit takes up to 280 ms here (p50 0.8 ms), which says
    nothing about how the agent serves connections. The commit's cost is bench/ingest.py's figure."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path / "agent.db"
        return
    directory = Path(tempfile.mkdtemp(prefix="edge-agent-flood-", dir=shm))
    yield directory / "agent.db"
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def enough_file_descriptors() -> Iterator[None]:
    """Both processes hold every connection (the child inherits this limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = IDLE + SLOW + TIMED + 512
    limit = needed if hard == resource.RLIM_INFINITY else min(hard, max(needed, soft))
    assert limit >= needed, f"hard RLIMIT_NOFILE {hard} is below the {needed} this test needs"
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, limit), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def start_agent(
    tmp: Path, port: int, *, open_files: int | None = None, db: Path | None = None, shielded: bool = False
) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = tmp / "agent.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "EDGE_AGENT_LOGGING__LEVEL": "INFO",
        "EDGE_AGENT_SERVER__KEEPALIVE_TIMEOUT_S": str(KEEPALIVE_S),
        "EDGE_AGENT_SERVER__HEADER_TIMEOUT_S": str(HEADER_S),
    }
    launcher = [sys.executable, "-m", "edge_agent"]
    if open_files is not None:  # the limit set in the child itself (no preexec_fn in a threaded parent)
        launcher = [sys.executable, "-c", LOW_LIMIT_LAUNCHER % (open_files, open_files)]
    elif shielded:  # SCHED_RR where permitted, set before the daemon starts its threads
        launcher = [sys.executable, "-c", SHIELDED_LAUNCHER]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*launcher, "serve", "--port", str(port), "--db", str(db or tmp / "agent.db")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return proc, log_path


async def request(port: int, raw: bytes) -> tuple[bytes, float]:
    """One request on a fresh connection (``Connection: close``): the answer and the milliseconds it took."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    answer = await asyncio.wait_for(reader.read(), 5)
    took = (time.perf_counter() - started) * 1000
    writer.close()
    return answer, took


async def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "agent exited before it was ready"
        try:
            answer, _ = await request(
                port, b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            )
            if answer.startswith(b"HTTP/1.1 200"):
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("agent not ready in 30 s")


class Held:
    """A connection the test holds open, and when the server closed it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, since: float) -> None:
        self.reader, self.writer, self.since = reader, writer, since
        self.received = b""
        self.closed_after: float | None = None
        self.watch = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        try:
            while chunk := await self.reader.read(4096):
                self.received += chunk
        except ConnectionError:
            pass
        self.closed_after = time.monotonic() - self.since


# Each held connection's clock starts before the step that starts the server's timer (the request for an
# idle one, the connect for a slow one): under load this process may resume long after, and a clock started
# late would make a close at the right time look early.


async def open_idle(port: int, host: bytes) -> Held:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    since = time.monotonic()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    answer = await asyncio.wait_for(reader.readuntil(b"}"), 10)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    return Held(reader, writer, since)


async def open_slow(port: int) -> Held:
    since = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(SLOW_HEAD[:1])
    return Held(reader, writer, since)


async def trickle(slow: list[Held], stop: asyncio.Event) -> None:
    """One more header byte to every slow connection every 250 ms (bounded by the head's length)."""
    for offset in range(1, len(SLOW_HEAD)):
        for held in slow:
            if held.closed_after is None and not held.writer.is_closing():
                held.writer.write(SLOW_HEAD[offset : offset + 1])
        try:
            await asyncio.wait_for(stop.wait(), 0.25)
            return
        except TimeoutError:
            continue


def time_requests(port: int, requests: list[bytes]) -> list[float]:
    """Each request on a fresh connection (``Connection: close``); milliseconds to the complete answer."""
    timings = []
    for raw in requests:
        status, took = flood_client.timed(port, raw)
        assert status == 200, (status, raw[:60])
        timings.append(took)
    return timings


def time_from_own_process(port: int, count: int) -> tuple[bool, list[tuple[str, int, float]]]:
    """``count`` normal requests timed by ``tests/agent/flood_client.py`` in a process of its own:
    whether it ran shielded, and each answer's path, status and milliseconds."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.agent.flood_client", str(port), str(count)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=True,
    )
    out = orjson.loads(done.stdout)
    return out["shielded"], [(path, status, took) for path, status, took in out["answers"]]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def test_idle_and_slow_header_connections_neither_slow_requests_nor_stay_open(
    tmp_path: Path, memory_db: Path, enough_file_descriptors: None
) -> None:
    port = free_port()
    host = f"127.0.0.1:{port}".encode()
    proc, log_path = start_agent(tmp_path, port, db=memory_db, shielded=True)
    held: list[Held] = []
    stop = asyncio.Event()
    try:
        await wait_ready(port, proc)
        # The first visit of a process pays one-time costs (first profile, first commit): not this test's.
        time_requests(port, [flood_client.visit_request(host, -1)])
        opened = time.monotonic()
        for start in range(0, IDLE, 200):
            held += await asyncio.gather(
                *(open_idle(port, host) for _ in range(start, min(IDLE, start + 200)))
            )
        idle = held[:IDLE]
        slow = list(await asyncio.gather(*(open_slow(port) for _ in range(SLOW))))
        held += slow
        trickler = asyncio.create_task(trickle(slow, stop))
        opening_s = time.monotonic() - opened

        daemon_shielded = os.sched_getscheduler(proc.pid) == os.SCHED_RR
        client_shielded, answers = await asyncio.to_thread(time_from_own_process, port, TIMED)
        still_held = sum(h.closed_after is None for h in held)

        await asyncio.wait_for(
            asyncio.gather(*(h.watch for h in held)), timeout=max(KEEPALIVE_S, HEADER_S) + 2 * MARGIN_S + 10
        )
        stop.set()
        await trickler
    finally:
        stop.set()
        for h in held:
            h.watch.cancel()
            h.writer.close()
        proc.terminate()
        proc.wait(timeout=30)

    timings = [took for _, _, took in answers]
    p50, p99 = statistics.median(timings), percentile(timings, 0.99)
    slowest = {path: max(t for p, _, t in answers if p == path) for path in ("/visit", "/readyz")}
    figures = (
        f"{IDLE} idle + {SLOW} slow-header connections (opened in {opening_s:.1f} s): {TIMED} requests "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(timings):.1f} ms (/visit {slowest['/visit']:.1f}, "
        f"/readyz {slowest['/readyz']:.1f}); shielded: daemon {daemon_shielded}, client {client_shielded}"
    )
    print(figures)
    assert daemon_shielded == client_shielded, figures  # both or neither: the same permission
    assert all(status == 200 for _, status, _ in answers), answers
    assert still_held == IDLE + SLOW, f"only {still_held} connections still open while timing ({figures})"
    assert max(timings) < BOUND_MS, figures

    idle_closes = [h.closed_after for h in idle if h.closed_after is not None]
    assert len(idle_closes) == IDLE and all(h.received == b"" for h in idle)
    assert min(idle_closes) >= KEEPALIVE_S - 0.5 and max(idle_closes) <= KEEPALIVE_S + MARGIN_S, (
        min(idle_closes),
        max(idle_closes),
    )
    slow_closes = [h.closed_after for h in slow if h.closed_after is not None]
    print(
        f"closed: idle {min(idle_closes):.2f}-{max(idle_closes):.2f} s (keep-alive {KEEPALIVE_S:g} s), "
        f"slow {min(slow_closes, default=0):.2f}-{max(slow_closes, default=0):.2f} s (headers {HEADER_S:g} s)"
    )
    assert len(slow_closes) == SLOW and all(h.received.startswith(b"HTTP/1.1 408") for h in slow)
    assert min(slow_closes) >= HEADER_S - 0.5 and max(slow_closes) <= HEADER_S + MARGIN_S, (
        min(slow_closes),
        max(slow_closes),
    )

    log_text = log_path.read_text()
    assert "Traceback" not in log_text and " ERROR " not in log_text, log_text[-3000:]
    assert len(log_text) < 16 * 1024 and len(log_text.splitlines()) < 40, log_text[-3000:]


async def test_more_connections_than_file_descriptors_neither_stop_the_agent_nor_flood_its_log(
    tmp_path: Path, enough_file_descriptors: None
) -> None:
    """The failure the connection limits were made for: a limit of 512 open files and 1,000 idle
    connections. The cap follows the limit (256 under it), the longest-idle connection makes room, the agent
    keeps answering."""
    port = free_port()
    host = f"127.0.0.1:{port}".encode()
    proc, log_path = start_agent(tmp_path, port, open_files=512)
    held: list[Held] = []
    try:
        await wait_ready(port, proc)
        for start in range(0, 1000, 100):
            held += await asyncio.gather(*(open_idle(port, host) for _ in range(start, start + 100)))
        readyz = b"GET /readyz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host
        timings = await asyncio.to_thread(
            time_requests, port, [flood_client.visit_request(host, n) for n in range(10)] + [readyz]
        )
        await asyncio.sleep(0.2)
        open_now = sum(h.closed_after is None for h in held)
    finally:
        for h in held:
            h.watch.cancel()
            h.writer.close()
        proc.terminate()
        proc.wait(timeout=30)
    assert max(timings) < 1000, timings
    assert open_now <= 512 - 256, open_now
    log_text = log_path.read_text()
    assert "open-file limit 512 allows 256 connections" in log_text
    assert "Traceback" not in log_text and "Too many open files" not in log_text, log_text[-3000:]
    assert len(log_text.splitlines()) < 40, log_text[-3000:]
