"""The benchmark suite's own parts that a verdict rests on: wrk's figures read back (counts, error
answers, bodies Lua must quote) from a real wrk against a real aiohttp server, and the CI guard's rule
(fail below half of the baseline by CPU ratio; the req/s ratio is only printed)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.helpers import require_binary

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import guard
import wrk


async def test_wrk_figures_count_answers_errors_and_send_every_body_intact(
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
) -> None:
    require_binary("wrk")
    seen: set[bytes] = set()

    async def echo(request: web.Request) -> web.Response:
        seen.add(await request.read())
        return web.Response(status=422 if request.path == "/bad" else 200)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    server = await aiohttp_server(app)
    bodies = ['{"a":"]]"}', '{"b":"]=]"}', '{"c":"]==]"}']  # each closes a naive Lua long string
    load = wrk.Load([wrk.Call("POST", "/ok", b) for b in bodies], {"Content-Type": "application/json"})
    fig = await wrk.run(str(server.make_url("")), load, seconds=1, connections=2, core=None)
    assert fig.requests > 10 and fig.errors == 0
    assert fig.rps > 0 and 0 < fig.p50_ms <= fig.p99_ms <= fig.p999_ms
    assert seen == {b.encode() for b in bodies}

    bad = await wrk.run(str(server.make_url("")), wrk.Load([wrk.Call("GET", "/bad")]), seconds=1, core=None)
    assert bad.requests > 0 and bad.status_errors == bad.requests and bad.socket_errors == 0


def test_the_guard_fails_only_below_half_of_the_baseline_cpu_ratio() -> None:
    baseline = {"rps": {"/x": 0.40}, "cpu": {"/x": 0.20}}
    above = guard.Ratios(rounds={"rps": [0.01, 0.02, 0.01], "cpu": [0.11, 0.12, 0.30]})
    below = guard.Ratios(rounds={"rps": [0.40, 0.40, 0.40], "cpu": [0.09, 0.12, 0.05]})
    assert [ok for _, ok, _ in guard.verdicts("/x", above, baseline)] == [True, True]  # rps: printed only
    assert [(k, ok) for k, ok, _ in guard.verdicts("/x", below, baseline)] == [("rps", True), ("cpu", False)]
    assert guard.verdicts("/y", above, baseline) == []  # a load the baseline lacks is not judged
