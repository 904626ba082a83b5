"""Small builders for bundles with campaigns, and SDK-shaped calls through the real routes."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from yarl import URL

from tests.helpers import envelope


def content(content_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "contentId": content_id,
        "deliveryMethod": "modal",
        "contentType": "native",
        "variables": {"elements": [{"type": "text", "text": content_id}]},
        **extra,
    }


def variation(variation_id: str, weight: float = 100, *, control: bool = False) -> dict[str, Any]:
    contents = [] if control else [content(f"cnt_{variation_id}")]
    return {"variationId": variation_id, "weight": weight, "control": control, "contents": contents}


def experience(
    experience_id: str, variations: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    variations = variations or [variation(f"var_{experience_id}")]
    return {"experienceId": experience_id, "variations": variations, **extra}


def pageload(condition: dict[str, Any] | None = None, delay: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "PAGELOAD", "delayTime": delay}
    if condition is not None:
        out["condition"] = condition
    return out


def on_event(*events: str, condition: dict[str, Any] | None = None, delay: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "EVENT", "events": list(events), "delayTime": delay}
    if condition is not None:
        out["condition"] = condition
    return out


def campaign(
    campaign_id: str, *, experiences: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    """A campaign with one 100 % experience ``exp_<id>`` unless ``experiences`` are given."""
    suffix = campaign_id.removeprefix("cmp_")
    return {
        "campaignId": campaign_id,
        "experiences": experiences or [experience(f"exp_{suffix}", [variation(f"var_{suffix}")])],
        **extra,
    }


def make_bundle(
    campaigns: list[dict[str, Any]],
    segments: list[dict[str, Any]] | None = None,
    *,
    version: str = "t-1",
    catalog: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "schema": 1,
        "version": version,
        "segments": segments or [],
        "campaigns": campaigns,
        "catalog": catalog or [],
    }


# --- calls ----------------------------------------------------------------------------------------------


async def post(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post(path, json=body)
    assert resp.status == 200, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def visit(
    client: TestClient, user: dict[str, Any] | None = None, page: str = "HOMEPAGE", **extra: Any
) -> dict[str, Any]:
    body = envelope(user)
    body["ctx"]["type"] = page
    body.update(extra)
    return await post(client, "/visit", body)


async def event(
    client: TestClient, user: dict[str, Any] | None, *items: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return await post(client, "/event", envelope(user, data=list(items), **extra))


async def choose(client: TestClient, user: dict[str, Any] | None, *items: dict[str, Any]) -> dict[str, Any]:
    return await post(client, "/choose", envelope(user, data=list(items)))


async def user_info(client: TestClient, user: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    body = envelope(user, **extra)
    body["options"]["isReturnUserInfo"] = True
    return (await post(client, "/user", body))["user"]  # type: ignore[no-any-return]


def campaign_ids(answer: dict[str, Any]) -> list[str]:
    return [c["campaignId"] for c in answer["campaigns"]]


def payloads(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for entry in answer["data"] for p in entry["payload"]]


def engagement_url(payload: dict[str, Any], action: str) -> str:
    """The first content's URL for ``action``, as a path the test client can GET."""
    for entry in payload["contents"][0]["events"]:
        if entry["type"] == action:
            return str(URL(entry["urls"][0]).relative())
    raise AssertionError(f"no {action!r} event in {payload['contents'][0]['events']}")


async def hit(client: TestClient, url: str) -> None:
    resp = await client.get(url)
    assert resp.status == 204, await resp.text()


def purchase(value: float, *items: tuple[str, int, float]) -> dict[str, Any]:
    cart = [{"productId": p, "quantity": q, "itemPrice": price} for p, q, price in items]
    return {
        "type": "purchase-v1",
        "name": "Purchase",
        "uniqueTransactionId": "t-1",
        "value": value,
        "cart": cart,
    }
