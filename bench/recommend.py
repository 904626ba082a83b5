"""How long ``POST /strategy`` takes on a realistic score table.

Builds a bundle with a ``--catalog``-item catalog, seeds ``--days`` days of product views, carts and
purchases straight through the scores writer (``storage.scores.record``, the function ``/visit`` and
``/event`` call), then times ``--requests`` sequential ``/strategy`` calls per strategy on the real app.

    PYTHONPATH=. python bench/recommend.py --catalog 5000 --days 30 --events-per-day 20000 --requests 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from edge_agent.agent.app import create_app
from edge_agent.clock import ManualClock
from edge_agent.config.settings import load_settings
from edge_agent.storage import scores
from edge_agent.storage.database import Database

NOW = 1_790_000_000.0
CATEGORIES = [f"cat-{i}" for i in range(40)]
STRATEGIES = [
    {"strategyId": "popular", "type": "popular", "filter": {"attr": "item.price", "op": "lt", "value": 500}},
    {"strategyId": "trending", "type": "trending"},
    {"strategyId": "similar", "type": "similar", "params": {"attribute": "category"}, "fallback": "popular"},
    {"strategyId": "viewed_together", "type": "viewed_together", "fallback": "popular"},
    {"strategyId": "bought_together", "type": "bought_together", "fallback": "popular"},
    {"strategyId": "recent", "type": "recently_viewed", "fallback": "popular"},
    {"strategyId": "new", "type": "new_arrivals"},
]


def bundle(catalog: int) -> dict[str, Any]:
    items = [
        {
            "productId": f"p{i}",
            "name": f"Product {i}",
            "price": float(random.randint(1, 1000)),
            "category": random.choice(CATEGORIES),
            "inStock": random.random() > 0.1,
            "createdAt": f"2026-{random.randint(1, 12):02d}-{random.randint(1, 28):02d}T00:00:00Z",
        }
        for i in range(catalog)
    ]
    return {"schema": 1, "version": "bench", "strategies": STRATEGIES, "catalog": items}


def seed(db: Database, catalog: int, days: int, per_day: int) -> None:
    # A skewed popularity, like real shops: a few products get most of the traffic.
    weights = [1 / (i + 1) for i in range(catalog)]
    products = [f"p{i}" for i in range(catalog)]
    for day in range(days):
        at = NOW - day * 86_400

        def one_day(conn: Any, at: float = at, day: int = day) -> None:
            for n in range(per_day // 5):
                ses = f"s{day}-{n}"
                viewed = random.choices(products, weights, k=4)
                for pid in viewed:
                    ctx = {"type": "PRODUCT", "data": [pid]}
                    scores.record(conn, kind="visit", uid=f"u{n % 500}", ses=ses, ctx=ctx, events=(), now=at)
                event = {"type": "purchase-v1", "cart": [{"productId": p} for p in viewed[:2]]}
                scores.record(conn, kind="event", uid=f"u{n % 500}", ses=ses, ctx={}, events=[event], now=at)

        db.write_sync(one_day)


async def run(args: argparse.Namespace) -> None:
    random.seed(7)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bundle.json"
        path.write_text(json.dumps(bundle(args.catalog)))
        db_path = Path(tmp) / "agent.db"
        settings = load_settings(overrides={"storage": {"path": db_path}, "bundle": {"path": path}})
        started = time.perf_counter()
        db = Database(db_path)
        db.open()
        seed(db, args.catalog, args.days, args.events_per_day)
        db.close()
        took = time.perf_counter() - started
        print(f"seeded {args.days} days x {args.events_per_day} events in {took:.1f}s")
        async with TestClient(TestServer(create_app(settings, clock=ManualClock(NOW)))) as client:
            for strategy in STRATEGIES:
                timings = []
                for n in range(args.requests):
                    body = {
                        "sec": "bench",
                        "user": {"uid": f"u{n % 500}"},
                        "ctx": {"type": "PRODUCT", "data": [f"p{random.randrange(50)}"]},
                        "data": [{"strategyId": strategy["strategyId"], "pageSize": 12}],
                    }
                    t0 = time.perf_counter()
                    resp = await client.post("/strategy", json=body)
                    answer = await resp.json()
                    timings.append((time.perf_counter() - t0) * 1000)
                    assert resp.status == 200, answer
                timings.sort()
                p95 = timings[int(len(timings) * 0.95) - 1]
                slots = len(answer["data"][0]["slots"])
                print(
                    f"{strategy['strategyId']:>16}: p50 {statistics.median(timings):6.2f} ms  "
                    f"p95 {p95:6.2f} ms  ({slots} slots)"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--events-per-day", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=100)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
