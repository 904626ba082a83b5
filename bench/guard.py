"""The CI regression guard (``bench/run --guard``, < 2 min): the agent's speed as ratios to the bare
aiohttp hello server, both measured in one run, against ``bench/baseline.json``.

A round measures, for each guarded load, hello and then that load, 2 s apiece with ``wrk -t2 -c32``
(server on core 0, wrk on core 1). Two ratios per load, each the median of three rounds: req/s (the
agent's over hello's) and CPU per request (hello's over the agent's: what the req/s ratio is when nothing
else wants the core). The CPU ratio decides: on a loaded 2-core machine the req/s ratio of one round
ranged from 0.00 to 0.41 where the CPU ratio stayed within ±20 %, so the req/s ratio is printed, not
judged. A load fails only when its CPU ratio falls below half of its baseline and three more rounds of
that load confirm it, or when more than 1 % of its answers are errors. ``--write-baseline`` stores this
run's ratios, with the machine and the date, as the new baseline.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import sdk_calls
import servers
import wrk
from loopback import CpuClock, machine

BASELINE = Path(__file__).resolve().parent / "baseline.json"
GUARDED = ("/choose single", "/choose products", "/event add-to-cart", "/visit screenview")
ROUNDS, SECONDS, WARMUP_S, PROFILES = 3, 2.0, 1.0, 200
KINDS = ("rps", "cpu")  # the two ratios, as keyed in the baseline
JUDGED = ("cpu",)
MAX_ERROR_SHARE = 0.01


@dataclass
class Ratios:
    rounds: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    errors: int = 0
    requests: int = 0

    def median(self, kind: str) -> float:
        return statistics.median(self.rounds[kind])


class Bench:
    """hello and the agent (demo bundle) running, the agent's loads ready."""

    def __init__(self, hello: servers.Server, agent: servers.Server, loads: dict[str, wrk.Load]) -> None:
        self.hello, self.agent, self.loads = hello, agent, loads
        self.hello_load = wrk.Load([wrk.Call("GET", "/")])

    @staticmethod
    async def sample(server: servers.Server, load: wrk.Load) -> tuple[wrk.Figures, float]:
        """One short run, and the server's CPU µs per request in it."""
        cpu = CpuClock(server.pid)
        fig = await wrk.run(server.url, load, seconds=SECONDS)
        return fig, cpu.per_request(fig.requests)

    async def round(self, name: str, into: Ratios) -> None:
        hello, hello_cpu = await self.sample(self.hello, self.hello_load)
        fig, cpu = await self.sample(self.agent, self.loads[name])
        into.rounds["rps"].append(fig.rps / hello.rps if hello.rps else 0.0)
        into.rounds["cpu"].append(hello_cpu / cpu if cpu else 0.0)
        into.errors += fig.errors
        into.requests += fig.requests


def verdicts(name: str, ratios: Ratios, baseline: dict[str, dict[str, float]]) -> list[tuple[str, bool, str]]:
    out = []
    for kind in KINDS:
        base = baseline.get(kind, {}).get(name)
        if base is None:
            continue
        median, runs = ratios.median(kind), ", ".join(f"{r:.3f}" for r in ratios.rounds[kind])
        what = "req/s" if kind == "rps" else "CPU per request"
        detail = f"{median:.3f}× hello by {what} (rounds {runs}); baseline {base:.3f}×, floor {base / 2:.3f}×"
        out.append((kind, kind not in JUDGED or median >= base / 2, detail))
    return out


async def run(*, write_baseline: bool, as_json: bool) -> int:
    baseline: dict[str, dict[str, float]] = {}
    if not write_baseline:
        if not BASELINE.exists():
            print(f"no {BASELINE}: run bench/run --guard --write-baseline on a quiet machine and commit it")
            return 1
        baseline = json.loads(BASELINE.read_text())["ratios_to_hello"]
    results = {name: Ratios() for name in GUARDED}
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="edge-agent-guard-") as tmp:
        hello = await servers.hello(Path(tmp) / "hello.log")
        agent = await servers.agent(Path(tmp) / "agent")
        try:
            users = await sdk_calls.create_profiles(agent.url, PROFILES)
            bench = Bench(hello, agent, sdk_calls.demo_loads(users, []))
            for server, load in [(hello, bench.hello_load), *((agent, bench.loads[n]) for n in GUARDED)]:
                await wrk.run(server.url, load, seconds=WARMUP_S)
            for _ in range(ROUNDS):
                for name in GUARDED:
                    await bench.round(name, results[name])
            if write_baseline:
                ratios = {kind: {n: r.median(kind) for n, r in results.items()} for kind in KINDS}
                record = {"machine": machine(), "command": "bench/run --guard", "ratios_to_hello": ratios}
                BASELINE.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
                print(f"wrote {BASELINE}: {json.dumps(ratios)}")
                return 0
            for name, ratios in results.items():
                if not all(ok for _, ok, _ in verdicts(name, ratios, baseline)):
                    for _ in range(ROUNDS):  # confirm before failing: a burst from elsewhere passes
                        await bench.round(name, ratios)
                for kind, ok, detail in verdicts(name, ratios, baseline):
                    if kind not in JUDGED:
                        print(f"info: {name}: {detail}")
                        continue
                    passed, failed = passed + ok, failed + (not ok)
                    print(f"{'ok' if ok else 'FAIL'}: {name}: {detail}")
                if ratios.errors > MAX_ERROR_SHARE * ratios.requests:
                    failed += 1
                    print(f"FAIL: {name}: {ratios.errors} of {ratios.requests} answers were errors")
        finally:
            await agent.stop()
            await hello.stop()
    print(f"guard: {passed} passed, {failed} failed")
    if as_json:
        rounds = {name: r.rounds for name, r in results.items()}
        print(json.dumps({"rounds": rounds, "passed": passed, "failed": failed}))
    return 1 if failed else 0
