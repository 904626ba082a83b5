"""Run ``wrk`` against a loopback server and read its figures back as numbers.

The load is a Lua script written for each run: it pre-formats every request once per thread, then sends
them in rotation (each thread from its own offset), so wrk spends its time on the socket, not in Lua.
``done()`` prints one JSON line that ``run`` parses: requests, duration, socket and status errors and the
latency percentiles wrk's histogram holds (``--latency`` prints only up to p99; p99.9 comes from here).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field

MARK = "WRKJSON "


@dataclass(frozen=True)
class Call:
    """One HTTP request of a load: method, path with query, and body (empty for a GET)."""

    method: str
    path: str
    body: str = ""


@dataclass(frozen=True)
class Load:
    """What one wrk run sends: ``calls`` in rotation, with ``headers`` on every one."""

    calls: list[Call]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Figures:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    status_errors: int  # responses with a status of 400 or more
    socket_errors: int  # connect, read, write and timeout errors

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.status_errors + self.socket_errors


def lua_string(text: str) -> str:
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def script(load: Load, *, delay_ms: float | None = None) -> str:
    headers = ", ".join(f"[ {lua_string(k)} ] = {lua_string(v)}" for k, v in load.headers.items())
    calls = ",\n".join(
        f"  {{{lua_string(c.method)}, {lua_string(c.path)}, {lua_string(c.body) if c.body else 'nil'}}}"
        for c in load.calls
    )
    parts = [
        f"local calls = {{\n{calls}\n}}",
        f"local headers = {{{headers}}}",
        "local formatted, n, i = {}, 0, 0",
        "local threads, started = {}, 0",
        "function setup(thread) thread:set('offset', started * 7919); started = started + 1;"
        " table.insert(threads, thread) end",
        "function init(args)\n"
        "  for k, c in ipairs(calls) do formatted[k] = wrk.format(c[1], c[2], headers, c[3]) end\n"
        "  n = #formatted; i = (offset or 0) % n\n"
        "end",
        "function request() i = i % n + 1; return formatted[i] end",
    ]
    if delay_ms is not None:
        parts.append(f"function delay() return {delay_ms:.3f} end")
    parts.append(
        "function done(summary, latency, requests)\n"
        "  local e = summary.errors\n"
        f"  io.write(string.format('{MARK}"
        '{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,'
        '"p50":%d,"p99":%d,"p999":%d}\\n\', summary.requests, summary.duration, e.connect, e.read, e.write,'
        " e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))\n"
        "end"
    )
    return "\n".join(parts) + "\n"


def available() -> bool:
    return shutil.which("wrk") is not None


def pin(core: int | None) -> list[str]:
    """``taskset -c core`` when the machine has that core and taskset; else nothing (unpinned)."""
    if core is None or shutil.which("taskset") is None or core >= (os.cpu_count() or 1):
        return []
    return ["taskset", "-c", str(core)]


async def run(
    base_url: str,
    load: Load,
    *,
    seconds: float,
    connections: int = 32,
    threads: int = 2,
    core: int | None = 1,
    delay_ms: float | None = None,
) -> Figures:
    """One wrk run of ``seconds`` with wrk pinned to ``core``; ``delay_ms`` between a connection's calls."""
    threads = min(threads, connections)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script(load, delay_ms=delay_ms))
    try:
        proc = await asyncio.create_subprocess_exec(
            *pin(core), "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
            "--timeout", "5s", "-s", lua.name, base_url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
    finally:
        os.unlink(lua.name)
    for line in out.decode().splitlines():
        if line.startswith(MARK):
            raw = json.loads(line[len(MARK) :])
            return Figures(
                requests=raw["requests"],
                seconds=raw["duration_us"] / 1e6,
                p50_ms=raw["p50"] / 1000,
                p99_ms=raw["p99"] / 1000,
                p999_ms=raw["p999"] / 1000,
                status_errors=raw["status"],
                socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
            )
    raise RuntimeError(f"wrk printed no figures (exit {proc.returncode}): {err.decode()[-500:]}")
