"""One request's decision, in-process: 200 campaigns and 50 segments against a realistic profile.

Usage: python bench/decide.py [--iterations 2000] [--history 300] [--seed 7]

Each iteration does what a ``/choose`` with user info does after its write: build the EvalContext from the
Snapshot (``Services.context``), list the profile's segments (UserInfo), find the PAGELOAD campaigns of the
page (``triggered`` with caps) and answer four ``/choose`` items (two selectors, a campaignId, a group).
SQLite is not involved: the write is measured by ``bench/ingest.py``. Prints the median and p95 in ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generate import EVENTS, PAGES, PRODUCTS, generate_bundle

from edge_agent.agent.bundles import BundleHolder, LoadedBundle, compile_checked
from edge_agent.agent.decide.campaigns import Chooser, triggered
from edge_agent.agent.services import Services
from edge_agent.agent.wire import ChooseRequest, parse_request
from edge_agent.clock import ManualClock
from edge_agent.config.settings import load_settings
from edge_agent.storage.bundles import parse_bundle
from edge_agent.storage.caps import CapCounts
from edge_agent.storage.database import Database
from edge_agent.storage.history import HistoryEntry
from edge_agent.storage.profile_state import CartLine, ProfileState
from edge_agent.storage.profiles import Identity
from edge_agent.storage.tracking import Snapshot

NOW = 1_790_000_000.0
DAY = 86_400.0


def generate_snapshot(rng: random.Random, history: int) -> Snapshot:
    identity = Identity(
        uid="6a09e770c6e093f77eeb982b", ses="b5c0e8a6-0d0b-4a47-9e0c-6f2f5d0d3c11", custom=None,
        attributes={"tier": "gold", "app_version": "2.3.0"}, central_uid=None, first_seen=NOW - 120 * DAY,
        is_new=False, new_profile=False, new_session=False, session_started_at=NOW - 300,
        traffic_source="Direct", visits=history // 2, session_pageviews=4, session_events=2,
    )  # fmt: skip
    items = []
    for _ in range(history):
        at = NOW - rng.random() * 90 * DAY
        if rng.random() < 0.6:
            page = rng.choice(PAGES)
            data = [rng.choice(PRODUCTS)] if page == "PRODUCT" else []
            items.append(HistoryEntry("visit", at, {}, {"type": page, "data": data}))
        else:
            kind = rng.choice(EVENTS)
            items.append(HistoryEntry(kind, at, {"type": kind, "value": 10.0}, {"type": "CART"}))
    items.sort(key=lambda h: h.at)
    state = ProfileState(
        cart=[CartLine(rng.choice(PRODUCTS), 1, 19.9) for _ in range(3)],
        purchase_value=420.0,
        purchases=4,
        last_purchase_at=NOW - 12 * DAY,
        affinity={p: (rng.random() * 5, NOW - rng.random() * 30 * DAY) for p in rng.sample(PRODUCTS, 60)},
    )
    caps = {f"cmp_{i}": CapCounts(1, 1, 1, 0, 0, 0) for i in range(0, 200, 15)}
    assignments = {f"exp_{i}": f"var_{i}_0" for i in range(0, 200, 7)}
    return Snapshot(identity=identity, history=items, assignments=assignments, state=state, caps=caps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--history", type=int, default=300, help="history entries of the profile")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    model, _ = parse_bundle(generate_bundle(rng))
    loaded = LoadedBundle(compile_checked(model), model.version, "bench", NOW)
    settings = load_settings(overrides={"storage": {"path": Path("/nonexistent/bench.db")}})
    clock = ManualClock(NOW)
    holder = BundleHolder()
    holder.set(loaded)
    svc = Services(settings, Database(settings.storage.path), holder, clock)
    snap = generate_snapshot(rng, args.history)
    env = parse_request(
        ChooseRequest,
        {
            "sec": "6819e7c0d7303f0f6b0ef263",
            "user": {"uid": snap.identity.uid, "ses": snap.identity.ses},
            "device": {"ua": "Shop/2.3.0 (Android 14; Pixel 7)", "id": "dev-1"},
            "ctx": {"type": "HOMEPAGE", "data": [], "location": "app://home"},
            "options": {"isReturnUserInfo": True},
            "data": [
                {"selector": "sel_4"},
                {"selector": "sel_8"},
                {"campaignId": "cmp_12"},
                {"group": "grp_0"},
            ],
        },
    )

    def once() -> tuple[int, int, int]:
        ctx = svc.context(snap, env, loaded)
        info = svc.user_info(snap, ctx)
        fired = triggered(loaded.compiled, ctx, "PAGELOAD", caps=svc.caps(snap), limit=1)
        chooser = Chooser(
            bundle=loaded.compiled, ctx=ctx, sec=env.sec, base_url=svc.base_url,
            assignments=dict(snap.assignments), caps=svc.caps(snap),
        )  # fmt: skip
        result = chooser.choose(env.data)
        return len(info["segments"]), len(fired), len(result.entries)

    segments, fired, entries = once()  # warm-up: the user-agent parser loads its rules here
    for _ in range(50):
        once()
    timings = []
    for _ in range(args.iterations):
        start = time.perf_counter()
        once()
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(
        f"decide: {len(loaded.compiled.campaigns)} campaigns, {len(loaded.compiled.segments)} segments, "
        f"{args.history} history entries; member of {segments} segments, {fired} PAGELOAD campaign(s), "
        f"{entries} /choose entries"
    )
    print(f"median {statistics.median(timings):.3f} ms, p95 {p95:.3f} ms over {args.iterations} iterations")


if __name__ == "__main__":
    main()
