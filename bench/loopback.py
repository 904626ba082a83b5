"""What the benchmarks that start a server process share: a free loopback port, waiting for it, and the
process's CPU time and memory from /proc."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import socket
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


async def wait_until_ok(session: aiohttp.ClientSession, url: str, *, seconds: float = 30.0) -> None:
    """Poll ``url`` until it answers 200; exit the benchmark if it does not within ``seconds``."""
    for _ in range(int(seconds / 0.1)):
        try:
            async with session.get(url) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not answer 200 in {seconds:.0f} s")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of every thread of ``pid`` so far."""
    # The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime: fields 14 and 15 of stat


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
