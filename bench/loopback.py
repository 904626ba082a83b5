"""What the benchmarks that start a server process share: a free loopback port, waiting for it to answer,
the process's CPU time (per request) and memory from /proc, and the largest size of its SQLite WAL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import socket
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def ready_after(
    url: str,
    proc: asyncio.subprocess.Process | None = None,
    started: float | None = None,
    seconds: float = 60,
) -> float:
    """Seconds from ``started`` (default: now) to the first 200 of ``url``, polled every 5 ms; exit the
    benchmark when ``proc`` exits first or ``url`` does not answer 200 within ``seconds``."""
    started = time.perf_counter() if started is None else started
    timeout = aiohttp.ClientTimeout(total=1)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while time.perf_counter() - started < seconds:
            if proc is not None and proc.returncode is not None:
                raise SystemExit(f"{url}: the server exited with {proc.returncode} before it was ready")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            await asyncio.sleep(0.005)
    raise SystemExit(f"{url} did not answer 200 in {seconds:.0f} s")


def p50_p99_ms(latencies: list[float]) -> tuple[float, float]:
    """The median and the 99th percentile of client latencies in seconds, as ms; 0, 0 with fewer than 2."""
    if len(latencies) < 2:
        return 0.0, 0.0
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49] * 1000, cuts[98] * 1000


def stat_cpu(stat: Path) -> tuple[float, float]:
    """User and system CPU seconds from a /proc stat file: a process's (every thread) or one thread's."""
    # The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS  # utime, stime: fields 14, 15


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of every thread of ``pid`` so far."""
    return sum(stat_cpu(Path(f"/proc/{pid}/stat")))


def thread_cpu(pid: int) -> dict[int, tuple[float, float]]:
    """User and system CPU seconds of each thread of ``pid`` (tid → (user, sys)); the main thread's tid
    is ``pid``."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # the thread ended meanwhile
            out[int(task.name)] = stat_cpu(task / "stat")
    return out


def per_request_us(cpu_s: float, requests: int) -> float:
    """µs of CPU per request; 0 when none was answered (no figure, rather than the whole time)."""
    return cpu_s / requests * 1e6 if requests else 0.0


class CpuClock:
    """A process's CPU time (every thread, user + system) from the moment this is made."""

    def __init__(self, pid: int) -> None:
        self.pid, self.start = pid, cpu_seconds(pid)

    def per_request(self, requests: int) -> float:
        """µs of CPU per request over ``requests`` answered since the start; 0 when none was."""
        return per_request_us(cpu_seconds(self.pid) - self.start, requests)


class WalWatch:
    """The largest size a SQLite database's WAL file reached while this ran, polled every ``every`` s
    (an absent WAL counts as 0). Make it inside a running event loop; ``stop()`` returns MiB."""

    def __init__(self, db: Path, every: float = 0.2) -> None:
        self.wal = db.with_name(db.name + "-wal")
        self.every, self.max_bytes = every, 0
        self.task = asyncio.create_task(self._poll())

    def size(self) -> int:
        try:
            return self.wal.stat().st_size
        except FileNotFoundError:
            return 0

    async def _poll(self) -> None:
        while True:
            self.max_bytes = max(self.max_bytes, self.size())
            await asyncio.sleep(self.every)

    def stop(self) -> float:
        self.task.cancel()
        self.max_bytes = max(self.max_bytes, self.size())
        return self.max_bytes / 2**20


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    return 0


def rss_mib(pid: int) -> float:
    return _status_kib(pid, "VmRSS:") / 1024


def peak_rss_mib(pid: int) -> float:
    """The high-water mark of the resident set (VmHWM): since start, or since ``reset_peak_rss``."""
    return _status_kib(pid, "VmHWM:") / 1024


def reset_peak_rss(pid: int) -> bool:
    """Set VmHWM back to the current RSS (Linux ≥ 4.0, our own process or root); False when refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def machine() -> dict[str, Any]:
    """What the figures were measured on: cores, CPU model, RAM, Python, kernel, date and load."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram = 0.0
    with contextlib.suppress(OSError):
        ram = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return {
        "nproc": os.cpu_count(), "cpu": model, "ram_gib": round(ram, 1), "python": platform.python_version(),
        "kernel": platform.release(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }  # fmt: skip
