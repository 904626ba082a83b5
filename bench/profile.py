"""Where the time and the memory go: the profiles behind docs/performance.md's gaps.

    python bench/profile.py load "/choose single" [--generated] [--seconds 10] [--top 20]
    python bench/profile.py drain replay|batch       # the agent draining while /choose takes 500 req/s
    python bench/profile.py startup [--top 20]      # exec → /readyz with the 200-campaign bundle
    python bench/profile.py imports                 # RSS after each import a request needs
    python bench/profile.py threads ["/choose single" ...]  # CPU per request of each agent thread

``load`` and ``startup`` sample the agent with py-spy (``pip install py-spy``; root or ptrace rights),
GIL-holding samples only for ``load`` (what competes for the one core), and print the functions with
the largest share of samples: inclusive (the function or anything it calls) and self (its own code).
The agent runs as in ``bench/run``: pinned to core 0, wrk -t2 -c32 on core 1, the SDKs' requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import sdk_calls
import servers
import suite
import wrk
from generate import generate_bundle
from loopback import free_port, per_request_us, ready_after, thread_cpu

# The frames every sample of a thread shares (interpreter, importlib, click, asyncio's loop, the thread
# start): they say nothing about where the time goes, so the inclusive list leaves them out.
SCAFFOLD = (
    "<frozen runpy>", "<frozen importlib", "asyncio/runners.py:", "asyncio/base_events.py:", "click/core.py:",
    "/__main__.py:", "edge_agent/cli.py:", "asyncio/events.py:Handle._run", "threading.py:Thread.",
    "agent/server.py:run",
)  # fmt: skip
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def function_of(frame: str) -> str:
    """``choose (edge_agent/agent/decide/campaigns.py:120)`` → ``decide/campaigns.py:choose``."""
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = Path(match["file"])
    return (
        f"{path.parent.name}/{path.name}:{match['func']}" if path.parent.name else f"{path}:{match['func']}"
    )


def summarise(raw: Path, top: int) -> list[str]:
    """The top functions of a py-spy ``--format raw`` file (one ``a;b;c count`` line per stack)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [function_of(f) for f in stack.split(";") if f.strip()]
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for name in set(frames):
            inclusive[name] += n
    out = [f"{total:,} samples"]
    shown = [(k, v) for k, v in inclusive.most_common() if not any(s in k for s in SCAFFOLD)][:top]
    out.append("inclusive: " + "; ".join(f"{k} {v / total:.0%}" for k, v in shown))
    out.append("self: " + "; ".join(f"{k} {v / total:.0%}" for k, v in own.most_common(top)))
    return out


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("py-spy not found: pip install py-spy")
    return found


async def record(pid: int, seconds: float, raw: Path) -> asyncio.subprocess.Process:
    """py-spy sampling ``pid``'s GIL-holding threads for ``seconds`` into ``raw`` (await its ``wait()``)."""
    return await asyncio.create_subprocess_exec(
        py_spy(), "record", "--pid", str(pid), "--duration", str(round(seconds)), "--rate", "200", "--gil",
        "--nonblocking", "--format", "raw", "--output", str(raw),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def profile_drain(mode: str, seconds: float, top: int) -> None:
    """The agent draining a queue of one-event /event calls while /choose takes a paced load, as in
    bench/run (suite.py's own steps)."""
    with tempfile.TemporaryDirectory(prefix="edge-agent-profile-") as tmp:
        work = Path(tmp)
        upstream = await servers.upstream(work / "upstream")
        try:
            agent = await servers.agent(work / "agent")
            try:
                rows, _ = await suite.one_event_queue(agent, 200, 15)
            finally:
                await agent.stop()
            agent = await servers.agent(work / "agent", env=servers.drain_env(upstream.url, mode))
            try:
                load = await suite.choose_once_draining(agent, upstream)
                raw = work / "drain.txt"
                spy = await record(agent.pid, seconds, raw)
                fig, rate, drained_s = await suite.choose_while_draining(agent, upstream, load, seconds)
                await spy.wait()
            finally:
                await agent.stop()
        finally:
            await upstream.stop()
        print(f"drain {mode}: {rate:,.0f} events/s over {drained_s:.1f} s of {rows:,} queued rows, ", end="")
        print(f"/choose at {fig.rps:.0f} req/s p99 {fig.p99_ms:.1f} ms; GIL samples")
        for line in summarise(raw, top):
            print(line)


async def profile_load(name: str, generated: bool, seconds: float, top: int) -> None:
    with tempfile.TemporaryDirectory(prefix="edge-agent-profile-") as tmp:
        work = Path(tmp)
        bundle = servers.DEMO_BUNDLE
        if generated:
            bundle = work / "bundle-200.json"
            bundle.write_text(json.dumps(generate_bundle(random.Random(7), 200, 50)))
        agent = await servers.agent(work / "agent", bundle)
        try:
            users = await sdk_calls.create_profiles(agent.url, 1000)
            engagement = await sdk_calls.engagement_paths(agent.url, users[:100])
            loads = sdk_calls.generated_loads(users) if generated else sdk_calls.demo_loads(users, engagement)
            await wrk.run(agent.url, loads[name], seconds=2)
            raw = work / "profile.txt"
            spy = await record(agent.pid, seconds, raw)
            fig = await wrk.run(agent.url, loads[name], seconds=seconds)
            await spy.wait()
        finally:
            await agent.stop()
        print(
            f"{name}{' (200 campaigns)' if generated else ''}: {fig.rps:,.0f} req/s under py-spy, GIL samples"
        )
        for line in summarise(raw, top):
            print(line)


def profile_startup(top: int) -> None:
    with tempfile.TemporaryDirectory(prefix="edge-agent-profile-") as tmp:
        work = Path(tmp)
        bundle = work / "bundle-200.json"
        bundle.write_text(json.dumps(generate_bundle(random.Random(7), 200, 50)))
        raw = work / "startup.txt"
        port = free_port()
        agent = [sys.executable, "-m", "edge_agent", "serve", "--port", str(port), "--db", str(work / "a.db")]
        spy = subprocess.Popen(
            [py_spy(), "record", "--rate", "500", "--format", "raw", "--output", str(raw), "--subprocesses",
             "--", *agent, "--bundle", str(bundle)],
            env={**servers.base_env(), **servers.AGENT_ENV},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        started = asyncio.run(ready_after(f"http://127.0.0.1:{port}/readyz"))
        spy.send_signal(2)  # py-spy writes its file on SIGINT, then stops the agent
        spy.wait(timeout=60)
        print(f"startup to ready under py-spy: {started:.2f} s")
        for line in summarise(raw, top):
            print(line)


async def profile_threads(names: list[str], seconds: float) -> None:
    """CPU µs per request of hello and of each agent thread under each load: the loop (the main thread)
    against the writer and the others, user and system time apart. No sampler: /proc's counters only."""
    with tempfile.TemporaryDirectory(prefix="edge-agent-profile-") as tmp:
        work = Path(tmp)
        hello = await servers.hello(work / "hello.log")
        agent = await servers.agent(work / "agent")
        try:
            users = await sdk_calls.create_profiles(agent.url, 1000)
            loads = sdk_calls.demo_loads(users, await sdk_calls.engagement_paths(agent.url, users[:100]))
            runs = [(hello, wrk.Load([wrk.Call("GET", "/")])), *((agent, loads[n]) for n in names)]
            for server, load in runs:
                await wrk.run(server.url, load, seconds=1)
                before = thread_cpu(server.pid)
                fig = await wrk.run(server.url, load, seconds=seconds)
                after = thread_cpu(server.pid)
                n = fig.requests
                spent = {
                    tid: (per_request_us(u - before[tid][0], n), per_request_us(s - before[tid][1], n))
                    for tid, (u, s) in after.items()
                    if tid in before
                }
                name = "hello" if server is hello else next(k for k, v in loads.items() if v is load)
                total = sum(u + s for u, s in spent.values())
                parts = [
                    f"{'loop (main thread)' if tid == server.pid else f'thread {tid}'} {u:.0f} + {s:.0f}"
                    for tid, (u, s) in sorted(spent.items(), key=lambda kv: -sum(kv[1]))
                    if u + s >= 1
                ]
                head = f"{name}: {fig.rps:,.0f} req/s, {total:.0f} µs CPU per request (user + sys)"
                print(f"{head}: " + "; ".join(parts))
        finally:
            await agent.stop()
            await hello.stop()


IMPORTS = [
    ("bare interpreter", "pass"),
    ("aiohttp.web", "import aiohttp.web"),
    ("pydantic", "import pydantic"),
    ("the app (edge_agent.agent.app)", "import edge_agent.agent.app"),
    ("the app and the CLI (edge_agent.cli)", "import edge_agent.agent.app, edge_agent.cli"),
]


def import_times(module: str, top: int) -> list[str]:
    """The imports that take longest, cumulative, from ``python -X importtime`` (µs)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"], capture_output=True, text=True,
        cwd=servers.ROOT, check=True,
    )  # fmt: skip
    rows = []
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].strip()))
    total = max(us for us, _ in rows)
    return [f"{name} {us / 1000:.0f} ms ({us / total:.0%})" for us, name in sorted(rows, reverse=True)[:top]]


def profile_imports() -> None:
    """RSS of a fresh interpreter after each import (VmRSS, MiB), then what the CLI's import spends."""
    probe = "import re; print(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read())[1])"
    for label, code in IMPORTS:
        done = subprocess.run(
            [sys.executable, "-c", f"{code}\n{probe}"],
            capture_output=True,
            text=True,
            cwd=servers.ROOT,
            check=True,
        )
        print(f"{label}: {int(done.stdout.split()[-1]) / 1024:.0f} MiB")
    print("import time, cumulative: " + "; ".join(import_times("edge_agent.cli", 15)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    load = sub.add_parser("load")
    load.add_argument("name", help='a row of bench/run\'s table, e.g. "/choose single"')
    load.add_argument("--generated", action="store_true", help="the 200-campaign / 50-segment bundle")
    load.add_argument("--seconds", type=float, default=10.0)
    drain = sub.add_parser("drain")
    drain.add_argument("mode", choices=["replay", "batch"])
    drain.add_argument("--seconds", type=float, default=10.0)
    for p in (load, drain, sub.add_parser("startup")):
        p.add_argument("--top", type=int, default=20)
    sub.add_parser("imports")
    threads = sub.add_parser("threads")
    threads.add_argument("names", nargs="*", default=["/choose single", "/event add-to-cart"])
    threads.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    if args.what == "load":
        asyncio.run(profile_load(args.name, args.generated, args.seconds, args.top))
    elif args.what == "drain":
        asyncio.run(profile_drain(args.mode, args.seconds, args.top))
    elif args.what == "startup":
        profile_startup(args.top)
    elif args.what == "threads":
        asyncio.run(profile_threads(args.names, args.seconds))
    else:
        profile_imports()


if __name__ == "__main__":
    main()
