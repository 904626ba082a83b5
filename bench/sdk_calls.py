"""The SDK requests the suite sends, in the SDKs' own shapes (sdk-wire-contract.md §8, E1–E5 and E10).

Bodies carry the Android SDK's explicit nulls and the default ``options`` object, as a real app sends
them. Each load rotates over a pool of profiles the suite first creates with ``/visit`` (``user: {}``,
one device each), so the agent sees returning visitors with a ``uid`` and ``ses``, not one hot profile.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from wrk import Call, Load

SEC = "6819e7c0d7303f0f6b0ef263"
BEARER = "Bearer bench-key"
HEADERS = {"Authorization": BEARER, "Content-Type": "application/json"}
OPTS = {
    "isReturnCounter": False,
    "isReturnUserInfo": False,
    "isReturnAnalyticsMetadata": False,
    "isImplicitPageview": False,
    "isImplicitImpression": True,
    "isBuildEngagementUrl": True,
}
ITEM_OPTION = {"skusOnly": False, "fields": None}
User = dict[str, str]


def device(n: int) -> dict[str, Any]:
    return {
        "ua": "Shop/2.3.0 (Android 14; Pixel 7; panther; arm64-v8a)",
        "id": f"9d3b5a9e-2f43-4a56-8d10-{n:012d}",
        "tracking": "notSupported",
        "permission": "granted",
    }


def ctx(page: str, data: list[str], location: str) -> dict[str, Any]:
    return {
        "type": page, "data": data, "location": location, "lng": None, "pageNumber": None,
        "referrer": None, "utm": None,
        "attributes": {"app_version": "2.3.0+230", "sdk_version": "1.0.3", "app_platform": "android"},
    }  # fmt: skip


def envelope(user: User, n: int, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "sec": SEC,
        "device": device(n),
        "user": {"uid": user["uid"], "custom": None, "ses": user["ses"], "attributes": None},
        "ctx": context,
        "options": OPTS,
    }


def visit(user: User, n: int, page: str = "HOMEPAGE") -> dict[str, Any]:
    return {**envelope(user, n, ctx(page, [], "app://home")), "type": "screenview"}


def add_to_cart(user: User, n: int, events: int = 1) -> dict[str, Any]:
    """One ``/event`` call carrying ``events`` add-to-cart events (``data`` is a list, §2.7)."""
    event = {
        "type": "add-to-cart-v1", "name": "Add to Cart", "value": 5990.0, "productId": "sku-1001",
        "quantity": 1, "currency": "RUB",
        "cart": [{"productId": "sku-1001", "quantity": 1, "itemPrice": 5990.0}],
    }  # fmt: skip
    return {**envelope(user, n, ctx("CART", ["sku-1001"], "app://cart")), "data": [event] * events}


def choose(user: User, n: int, items: list[dict[str, Any]], page: str = "HOMEPAGE") -> dict[str, Any]:
    data = [{"option": ITEM_OPTION, **item} for item in items]
    skus = ["sku-1001"] if page in ("CART", "PRODUCT") else []
    return {**envelope(user, n, ctx(page, skus, f"app://{page.lower()}")), "data": data}


def strategy(user: User, n: int) -> dict[str, Any]:
    body = envelope(user, n, ctx("PRODUCT", ["sku-1001"], "app://product/sku-1001"))
    return {**body, "data": [{"strategyId": "str_similar", "pageSize": 4}]}


def post(path: str, users: list[User], build: Any) -> Load:
    calls = [Call("POST", path, json.dumps(build(u, n), separators=(",", ":"))) for n, u in enumerate(users)]
    return Load(calls, HEADERS)


def demo_loads(users: list[User], engagement: list[str]) -> dict[str, Load]:
    """The demo bundle's loads, by row name of the suite's table."""
    return {
        "/event add-to-cart": post("/event", users, add_to_cart),
        "/visit screenview": post("/visit", users, visit),
        "/choose single": post("/choose", users, lambda u, n: choose(u, n, [{"selector": "home_banner"}])),
        "/choose merged": post("/choose", users, lambda u, n: choose(u, n, [
            {"selector": "home_banner"}, {"selector": "home_reco"}, {"campaignId": "cmp_survey01"}])),
        "/choose products": post(
            "/choose", users, lambda u, n: choose(u, n, [{"selector": "cart_reco"}], page="CART")
        ),
        "/strategy": post("/strategy", users, strategy),
        "GET /v2/engagement": Load([Call("GET", p) for p in engagement], {"Authorization": BEARER}),
    }  # fmt: skip


def add_to_cart_load(users: list[User], events: int) -> Load:
    """``/event`` calls of ``events`` add-to-cart events each, rotated over ``users``."""
    return post("/event", users, lambda u, n: add_to_cart(u, n, events))


def generated_loads(users: list[User]) -> dict[str, Load]:
    """The generated 200-campaign / 50-segment bundle's loads (ids from bench/generate.py)."""
    return {
        "/choose single": post("/choose", users, lambda u, n: choose(u, n, [{"selector": "sel_4"}])),
        "/choose merged": post("/choose", users, lambda u, n: choose(u, n, [
            {"selector": "sel_4"}, {"selector": "sel_8"}, {"campaignId": "cmp_12"}, {"group": "grp_0"}])),
        "/visit screenview": post("/visit", users, visit),
        "/event add-to-cart": post("/event", users, add_to_cart),
    }  # fmt: skip


async def create_profiles(base_url: str, count: int, *, first: int = 0) -> list[User]:
    """``count`` fresh visitors: a first ``/visit`` each with ``user: {}``, as after an app's install."""
    users: list[User] = [{}] * count
    async with aiohttp.ClientSession(headers=HEADERS) as session:

        async def one(n: int) -> None:
            body = visit({"uid": "", "ses": ""}, first + n)
            body["user"] = {}
            async with session.post(f"{base_url}/visit", json=body) as response:
                answer = await response.json()
                users[n] = {"uid": answer["user"]["uid"], "ses": answer["user"]["ses"]}

        for start in range(0, count, 16):
            await asyncio.gather(*(one(n) for n in range(start, min(count, start + 16))))
    return users


async def engagement_paths(base_url: str, users: list[User]) -> list[str]:
    """The engagement URLs (path and query) the agent minted in one ``/choose`` per profile."""
    paths: list[str] = []
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        for n, user in enumerate(users):
            body = choose(user, n, [{"selector": "home_banner"}, {"selector": "cart_reco"}], page="CART")
            async with session.post(f"{base_url}/choose", json=body) as response:
                answer = await response.json()
            for entry in answer["data"]:
                for campaign in entry["payload"]:
                    for content in campaign["contents"]:
                        for event in content.get("events", []):
                            paths.extend(f"{urlsplit(u).path}?{urlsplit(u).query}" for u in event["urls"])
    return paths
