"""A generated bundle of N campaigns and M segments, of the kinds of conditions real bundles use.

    python bench/generate.py [--campaigns 200] [--segments 50] [--seed 7] > bundle.json

Campaign ``i`` has selector ``sel_{i % 40}`` when ``i % 4 == 0``, group ``grp_{i % 3}`` when ``i % 10 == 5``;
one in three has a PAGELOAD trigger, one in three an EVENT trigger. ``bench/decide.py`` decides against it
in-process and ``bench/run`` serves it from a real agent.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from typing import Any

PAGES = ["HOMEPAGE", "PRODUCT", "CATEGORY", "CART", "SEARCH", "OTHER"]
EVENTS = ["add-to-cart-v1", "purchase-v1", "add-to-wishlist-v1", "tap", "search"]
PRODUCTS = [f"sku-{i}" for i in range(500)]


def leaf(rng: random.Random, segments: int) -> dict[str, Any]:
    """One random condition of the kinds real bundles use, ``count`` included."""
    kind = rng.randrange(9)
    if kind == 0:
        return {"attr": "ctx.type", "op": "in", "value": rng.sample(PAGES, 2)}
    if kind == 1:
        return {"attr": "user.attributes.tier", "op": "eq", "value": rng.choice(["gold", "silver"])}
    if kind == 2:
        return {"attr": "session.pageviews", "op": "gte", "value": rng.randrange(1, 6)}
    if kind == 3:
        return {"attr": "cart.value", "op": "between", "value": [0, rng.randrange(50, 500)]}
    if kind == 4:
        return {"attr": "device.type", "op": "eq", "value": rng.choice(["mobile", "tablet"])}
    if kind == 5 and segments:
        return {"segment": f"seg_{rng.randrange(segments)}"}
    if kind == 6:
        return {"attr": "time.hour", "op": "between", "value": sorted(rng.sample(range(24), 2))}
    where = {"attr": "ctx.type", "op": "eq", "value": "PRODUCT"} if rng.random() < 0.5 else None
    count: dict[str, Any] = {"event": rng.choice(["visit", *EVENTS]), "withinDays": rng.choice([7, 30, 90])}
    if where is not None and count["event"] == "visit":
        count["where"] = where
    return {"count": count, "op": "gte", "value": rng.randrange(1, 4)}


def condition(rng: random.Random, segments: int) -> dict[str, Any]:
    parts = [leaf(rng, segments) for _ in range(rng.randrange(1, 4))]
    return parts[0] if len(parts) == 1 else {rng.choice(["all", "any"]): parts}


def generate_bundle(rng: random.Random, n_campaigns: int = 200, n_segments: int = 50) -> dict[str, Any]:
    # A segment refers only to earlier segments, so the references never form a cycle.
    segments = [{"segmentId": f"seg_{i}", "condition": condition(rng, i)} for i in range(n_segments)]
    campaigns = []
    for i in range(n_campaigns):
        variations = [
            {"variationId": f"var_{i}_{v}", "weight": 50, "control": v == 1 and i % 4 == 0,
             "contents": [] if v == 1 and i % 4 == 0 else [
                 {"contentId": f"cnt_{i}_{v}", "deliveryMethod": "modal", "contentType": "native",
                  "variables": {"elements": [{"type": "text", "text": f"campaign {i}"},
                                             {"type": "button", "onClick": {"action": "follow_url"}}]}}]}
            for v in range(2)
        ]  # fmt: skip
        campaign: dict[str, Any] = {
            "campaignId": f"cmp_{i}",
            "priority": rng.randrange(10),
            "audience": condition(rng, n_segments) if rng.random() < 0.7 else None,
            "experiences": [{"experienceId": f"exp_{i}", "variations": variations}],
        }
        if i % 3 == 0:
            campaign["triggers"] = [{"type": "PAGELOAD", "condition": condition(rng, n_segments)}]
        elif i % 3 == 1:
            campaign["triggers"] = [{"type": "EVENT", "events": [rng.choice(EVENTS)]}]
        if i % 4 == 0:
            campaign["selector"] = f"sel_{i % 40}"
        if i % 10 == 5:
            campaign["group"] = f"grp_{i % 3}"
        if i % 5 == 0:
            campaign["frequency"] = {"perUser": 3, "perSession": 1, "countOn": "decision"}
        campaigns.append(campaign)
    return {"schema": 1, "version": "bench-1", "segments": segments, "campaigns": campaigns}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--segments", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    json.dump(generate_bundle(random.Random(args.seed), args.campaigns, args.segments), sys.stdout)


if __name__ == "__main__":
    main()
