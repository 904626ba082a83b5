"""The CI regression guard (``bench/run --guard``, < 2 min): the agent's req/s as a ratio to the bare
aiohttp hello server, both measured in one run, against ``bench/baseline.json``.

Each round measures hello, then each guarded load, 3 s apiece with ``wrk -t2 -c32`` (server on core 0,
wrk on core 1); a ratio is the median over three rounds, so a burst of load from elsewhere on a shared
2-core machine moves one round, not the verdict. A load fails only when its ratio falls below half of
its baseline, or when it answers an error. ``--write-baseline`` stores this run's ratios, with the
machine and the date, as the new baseline.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path

import sdk_calls
import servers
import wrk
from loopback import machine

BASELINE = Path(__file__).resolve().parent / "baseline.json"
GUARDED = ("/choose single", "/choose products", "/event add-to-cart", "/visit screenview")
ROUNDS, SECONDS, WARMUP_S, PROFILES = 3, 3.0, 1.0, 200


async def measure() -> tuple[dict[str, list[float]], int]:
    """Per guarded load, its ratio to hello in each round; and the errors the agent answered."""
    ratios: dict[str, list[float]] = {name: [] for name in GUARDED}
    errors = 0
    with tempfile.TemporaryDirectory(prefix="edge-agent-guard-") as tmp:
        hello = await servers.hello(Path(tmp) / "hello.log")
        agent = await servers.agent(Path(tmp) / "agent")
        try:
            users = await sdk_calls.create_profiles(agent.url, PROFILES)
            loads = sdk_calls.demo_loads(users, [])
            hello_load = wrk.Load([wrk.Call("GET", "/")])
            await wrk.run(hello.url, hello_load, seconds=WARMUP_S)
            for name in GUARDED:
                await wrk.run(agent.url, loads[name], seconds=WARMUP_S)
            for _ in range(ROUNDS):
                base = await wrk.run(hello.url, hello_load, seconds=SECONDS)
                for name in GUARDED:
                    fig = await wrk.run(agent.url, loads[name], seconds=SECONDS)
                    ratios[name].append(fig.rps / base.rps)
                    errors += fig.errors
        finally:
            await agent.stop()
            await hello.stop()
    return ratios, errors


async def run(*, write_baseline: bool, as_json: bool) -> int:
    ratios, errors = await measure()
    medians = {name: statistics.median(runs) for name, runs in ratios.items()}
    if write_baseline:
        baseline = {"machine": machine(), "command": "bench/run --guard", "ratios_to_hello": medians}
        BASELINE.write_text(json.dumps(baseline, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {BASELINE.name}: " + ", ".join(f"{n} {r:.3f}×" for n, r in medians.items()))
        return 0
    if not BASELINE.exists():
        print(f"no {BASELINE}: run bench/run --guard --write-baseline on a quiet machine and commit it")
        return 1
    baseline = json.loads(BASELINE.read_text())["ratios_to_hello"]
    passed = failed = 0
    for name, median in medians.items():
        if name not in baseline:
            print(f"skip: {name}: not in the baseline")
            continue
        floor = baseline[name] / 2
        ok = median >= floor
        passed, failed = passed + ok, failed + (not ok)
        runs = ", ".join(f"{r:.3f}" for r in ratios[name])
        verdict = "ok" if ok else "FAIL"
        print(f"{verdict}: {name}: {median:.3f}× hello (rounds {runs}); ", end="")
        print(f"baseline {baseline[name]:.3f}×, floor {floor:.3f}×")
    if errors:
        print(f"FAIL: the agent answered {errors} errors (status ≥ 400 or socket errors)")
        failed += 1
    print(f"guard: {passed} passed, {failed} failed")
    if as_json:
        print(json.dumps({"ratios": medians, "rounds": ratios, "errors": errors, "failed": failed}))
    return 1 if failed else 0
