"""Wire-contract conformance: every example of sdk-wire-contract §8 (E1–E10) against the real app.

Bodies are built byte for byte the way each SDK encodes them (§1.4, §2): Flutter compact with ``null``s in
``ctx`` and a singular ``option``, merging several ``/choose`` items with ``rules``; Android compact with
every key and explicit ``null``s, identifiers run through ``parseToJsonElement`` (``"2024"`` → ``2024``);
iOS pretty-printed with ``\\/`` escapes, ``device.userAgent``, plural ``options`` and nils omitted. Every
request carries ``Authorization: Bearer`` and ``Content-Type: application/json`` (§1.3), and every answer
goes through ``tests/wire_checker.py``: HTTP outcome and REQ columns for all three SDKs, plus the agent's own
promises (absolute engagement URLs on the agent, hooks with matching events, …).
"""

from __future__ import annotations

import copy
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from edge_agent.agent.bundles import compile_checked
from edge_agent.clock import ManualClock
from edge_agent.errors import BundleInvalid
from edge_agent.storage.bundles import parse_bundle
from tests.conftest import FIXTURES, MakeClient
from tests.helpers import OPTS, SEC, db_rows
from tests.wire_checker import SDKS, Kind, Sdk, assert_conforms, check_http, check_response

API_KEY = "sdk-key-6819e7c0"
PUBLIC_URL = "http://127.0.0.1:8787"  # the default server.public_url: engagement URLs point here
WIRE_BUNDLE_PATH = FIXTURES / "wire-bundle.json"
THANKS_CONTENT = "cnt_thanks01:3f9ad0c2b7e14a55a0d3c1e2f4b5a6c7"

# -- bodies exactly as each SDK sends them -------------------------------------------------------------

FLUTTER_DEVICE = {
    "ua": "Shop/2.3.0 (Android 14; Pixel 7)",
    "id": "0b6f2c1e-5d0a-4c1e-9a57-3c4b8e2f9d10",
    "tracking": "notSupported",
    "permission": "unknown",
}
ANDROID_DEVICE = {
    "ua": "Shop/2.3.0 (Android 14; Pixel 7; panther; arm64-v8a)",
    "id": "9d3b5a9e-2f43-4a56-8d10-55c7e1f0b6aa",
    "tracking": "notSupported",
    "permission": "granted",
}
IOS_DEVICE = {
    "userAgent": "Shop/2.3.0 (iOS 17.5; iPhone; arm64)",
    "id": "6F1C2A3B-7D8E-4F90-A1B2-C3D4E5F60718",
    "permission": "unknown",
    "tracking": "notSupported",
}
SDK_VERSIONS = {"flutter": "0.22.2", "android": "1.0.3", "ios": "1.0.4"}
PLATFORMS = {"flutter": "android", "android": "android", "ios": "iOS"}
FLUTTER_OPTION = {"skusOnly": False, "fields": None}


def ctx_for(
    sdk: Sdk, ctx_type: str = "HOMEPAGE", location: str = "app://home", data: Any = ()
) -> dict[str, Any]:
    ctx: dict[str, Any] = {"type": ctx_type, "data": list(data), "location": location}
    if sdk != "ios":  # Flutter and Android write the unset optionals as null; iOS omits them
        ctx.update({"lng": None, "pageNumber": None, "referrer": None, "utm": None})
    ctx["attributes"] = {
        "app_version": "2.3.0+230",
        "sdk_version": SDK_VERSIONS[sdk],
        "app_platform": PLATFORMS[sdk],
    }
    return ctx


def android_user(uid: str | None = None, ses: str | None = None, custom: str | None = None) -> dict[str, Any]:
    return {"uid": uid, "custom": custom, "ses": ses, "attributes": None}


def body_for(
    sdk: Sdk,
    kind: Kind,
    user: dict[str, Any],
    *,
    ctx: dict[str, Any] | None = None,
    data: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The envelope in the SDK's own key order (§2.1); ``user`` is passed already SDK-shaped."""
    device = {"flutter": FLUTTER_DEVICE, "android": ANDROID_DEVICE, "ios": IOS_DEVICE}[sdk]
    body: dict[str, Any] = {"sec": SEC, "device": dict(device)}
    if kind == "visit":
        body["type"] = "screenview"
    if data is not None and sdk != "flutter":
        body["data"] = data
    body["user"] = user
    body["ctx"] = ctx if ctx is not None else ctx_for(sdk)
    body["options"] = dict(OPTS)
    if data is not None and sdk == "flutter":
        body["data"] = data
    return body


def encode(sdk: Sdk, body: dict[str, Any]) -> bytes:
    if sdk == "ios":  # JSONEncoder .prettyPrinted: multi-line, "key" : value, "/" escaped as "\/"
        text = json.dumps(body, indent=2, separators=(",", " : "), ensure_ascii=False)
        return text.replace("/", "\\/").encode()
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def item_for(sdk: Sdk, key: str, value: Any, rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    if sdk == "flutter":
        item: dict[str, Any] = {"option": dict(FLUTTER_OPTION), key: value}
        if rules is not None:
            item["rules"] = rules
        return item
    if sdk == "android":
        return {key: value, "option": dict(FLUTTER_OPTION)}
    return {key: value, "options": {"skusOnly": False}}


def session_user(sdk: Sdk, user: dict[str, Any]) -> dict[str, Any]:
    """How the SDK sends the uid/ses it adopted from an earlier response (§2.2)."""
    if sdk == "android":
        return android_user(user["uid"], user["ses"])
    return {"uid": user["uid"], "ses": user["ses"]}


def fresh_user(sdk: Sdk) -> dict[str, Any]:
    return android_user() if sdk == "android" else {}


# -- transport -----------------------------------------------------------------------------------------

HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}


def server_url(client: TestClient, path_qs: str) -> URL:
    # Built by hand: TestClient refuses "//choose", and ':' in engagement queries must stay literal.
    return URL(str(client.make_url("/")).rstrip("/") + path_qs, encoded=True)


async def send(client: TestClient, kind: Kind, raw: bytes, path: str | None = None) -> dict[str, Any]:
    """POST ``raw`` like an SDK; assert 200 JSON that every SDK accepts and the agent's promises hold."""
    started = time.perf_counter()
    async with client.session.post(server_url(client, path or f"/{kind}"), data=raw, headers=HEADERS) as resp:
        payload = await resp.read()
        status, content_type = resp.status, resp.headers.get("Content-Type")
    elapsed = time.perf_counter() - started
    assert status == 200, payload
    assert resp.content_type == "application/json"
    assert elapsed < 5, f"answered in {elapsed:.2f}s; Android/iOS give up after 5 s"
    problems = [p for sdk in SDKS for p in check_http(kind, status, content_type, payload, sdk)]
    assert not problems, "\n".join(problems)
    body: dict[str, Any] = json.loads(payload)
    assert_conforms(kind, body, base_url=PUBLIC_URL)
    return body


async def start_session(client: TestClient, sdk: Sdk) -> dict[str, str]:
    """A fresh install's first ``/visit``: the uid/ses the SDK adopts."""
    body = await send(client, "visit", encode(sdk, body_for(sdk, "visit", fresh_user(sdk))))
    return body["user"]  # type: ignore[no-any-return]


async def engage(client: TestClient, minted: str) -> int:
    """GET an engagement URL the agent minted, on the test server, exactly as the SDKs do (§6.3)."""
    assert minted.startswith(PUBLIC_URL + "/"), minted
    async with client.session.get(server_url(client, minted[len(PUBLIC_URL) :]), headers=HEADERS) as resp:
        await resp.read()
        return resp.status


def selector_of(body: dict[str, Any]) -> Any:
    """The ``selector`` echoed by the first entry (every single-item caller reads ``data[0]``)."""
    assert body["data"], "no entry at all: the caller shows nothing"
    return body["data"][0].get("selector")


def campaign_ids(body: dict[str, Any]) -> list[str]:
    return [variation["campaignId"] for entry in body["data"] for variation in entry["payload"]]


def the_only_payload(body: dict[str, Any]) -> dict[str, Any]:
    assert len(body["data"]) == 1, body["data"]
    payloads: list[dict[str, Any]] = body["data"][0]["payload"]
    assert len(payloads) == 1
    return payloads[0]


def flutter_demux(response: dict[str, Any], requests: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Flutter's ``_executeBatchedChoose`` (§5.2): what each merged caller receives."""
    by_selector: dict[str, dict[str, Any]] = {}
    by_campaign: dict[str, dict[str, Any]] = {}
    fallback_by_campaign: dict[str, dict[str, Any]] = {}
    for entry in response.get("data") or []:
        selector = entry.get("selector")
        if selector is not None:
            by_selector.setdefault(selector, entry)
            for variation in entry["payload"]:
                fallback_by_campaign.setdefault(variation["campaignId"], entry)
        else:
            for variation in entry["payload"]:
                by_campaign.setdefault(variation["campaignId"], entry)
    out = []
    for key, value in requests:
        if key == "selector":
            match = by_selector.get(value)
        else:
            match = by_campaign.get(value) or fallback_by_campaign.get(value)
        out.append({"user": response["user"], "data": [match] if match is not None else []})
    return out


# -- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture
def wire_bundle() -> dict[str, Any]:
    bundle: dict[str, Any] = json.loads(WIRE_BUNDLE_PATH.read_text())
    return bundle


@pytest.fixture
async def agent(make_client: MakeClient, wire_bundle: dict[str, Any]) -> TestClient:
    """The real app on the §8 bundle, checking the SDKs' bearer like a configured deployment."""
    return await make_client(bundle=wire_bundle, auth={"api_keys": [API_KEY]})


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "agent.db"


# -- E1 ----------------------------------------------------------------------------------------------------


async def test_e1_flutter_fresh_install_visit_bootstraps_the_session(
    agent: TestClient, clock: ManualClock
) -> None:
    raw = encode("flutter", body_for("flutter", "visit", {}))
    assert b'"user":{}' in raw and b'"lng":null' in raw
    first = await send(agent, "visit", raw)
    assert first["campaigns"] == []
    user = first["user"]
    assert re.fullmatch(r"[0-9a-f]{24}", user["uid"]), user
    assert user["ses"]

    # Next call of the same process sends both and keeps the session.
    warm = await send(
        agent, "visit", encode("flutter", body_for("flutter", "visit", session_user("flutter", user)))
    )
    assert warm["user"] == user

    # App restart: the persisted uid without ses. Past the cold-start window the agent issues a new ses.
    clock.advance(6)
    relaunch = await send(
        agent, "visit", encode("flutter", body_for("flutter", "visit", {"uid": user["uid"]}))
    )
    assert relaunch["user"]["uid"] == user["uid"]
    assert relaunch["user"]["ses"] != user["ses"]


# -- E2 ----------------------------------------------------------------------------------------------------

PURCHASE = {
    "uniqueTransactionId": "ORD-1001",
    "value": 2550.75,
    "cart": [{"productId": "sku-1", "quantity": 1, "itemPrice": 100.5}],
    "currency": "RUB",
    "type": "purchase-v1",
    "name": "Purchase",
}


async def test_e2_android_purchase_event_triggers_the_thank_you_campaign(agent: TestClient) -> None:
    user = await start_session(agent, "android")
    ctx = ctx_for("android", "CART", "app://cart", ["sku-1"])
    raw = encode(
        "android",
        body_for("android", "event", android_user(user["uid"], user["ses"]), ctx=ctx, data=[PURCHASE]),
    )
    assert b'"custom":null' in raw and b'"attributes":null' in raw and b'"referrer":null' in raw
    answer = await send(agent, "event", raw)
    assert answer["user"] == user
    assert len(answer["campaigns"]) == 1
    campaign = answer["campaigns"][0]
    assert campaign["campaignId"] == "cmp_thanks01"
    assert campaign["trigger"] == "EVENT"
    assert campaign["priority"] == 10 and type(campaign["priority"]) is int
    assert campaign["delayTime"] == 500 and type(campaign["delayTime"]) is int

    # The SDK follows up with POST /choose {campaignId, option}; the agent must answer it.
    follow_up = body_for(
        "android",
        "choose",
        android_user(user["uid"], user["ses"]),
        ctx=ctx,
        data=[item_for("android", "campaignId", "cmp_thanks01")],
    )
    chosen = await send(agent, "choose", encode("android", follow_up))
    assert the_only_payload(chosen)["campaignId"] == "cmp_thanks01"
    assert chosen["data"][0].get("selector") is None


# -- E3 ----------------------------------------------------------------------------------------------------


async def test_e3_ios_choose_by_campaign_id_carries_hooks_and_engagement_urls(
    agent: TestClient, clock: ManualClock
) -> None:
    user = await start_session(agent, "ios")
    ctx = ctx_for("ios", "CART", "app://cart", ["sku-1"])
    raw = encode(
        "ios",
        body_for(
            "ios",
            "choose",
            {"uid": user["uid"], "ses": user["ses"]},
            ctx=ctx,
            data=[item_for("ios", "campaignId", "cmp_thanks01")],
        ),
    )
    assert b"app:\\/\\/cart" in raw and b'"options" : {' in raw and b'"userAgent" : ' in raw
    assert b"null" not in raw and b"\n" in raw

    answer = await send(agent, "choose", raw)
    assert answer["user"] == user
    entry = answer["data"][0]
    assert "selector" not in entry or entry["selector"] is None
    payload = the_only_payload(answer)
    decision_id = f"gf:{SEC}:{user['uid']}:{int(clock.now())}"
    assert payload["campaignId"] == "cmp_thanks01"
    assert (payload["experienceId"], payload["variationId"]) == ("exp_thanks01", "var_thanks01a")
    assert payload["decisionId"] == decision_id
    [content] = payload["contents"]
    assert content["contentId"] == THANKS_CONTENT
    assert content["deliveryMethod"] == "modal" and content["contentType"] == "native"
    variables = content["variables"]
    assert isinstance(variables["frameUI"]["container"], dict)
    hooks = {
        hook: variables[hook]["action"]
        for hook in ("onLoad", "onImpression", "onVisibleImpression", "onClose")
    }
    assert hooks == {
        "onLoad": "load",
        "onImpression": "impression",
        "onVisibleImpression": "visible_impression",
        "onClose": "close",
    }
    urls = {event["type"]: event["urls"] for event in content["events"]}
    codes = {"load": "WLOAD", "impression": "WIMP", "visible_impression": "WRIMP", "close": "WCLOSE"}
    for action, code in codes.items():
        assert urls[action] == [
            f"{PUBLIC_URL}/v2/engagement?type={code}&decisionId={decision_id}&contentId={THANKS_CONTENT}"
        ]
    # The "Continue" button's onClick.action "close" is tracked by the same entry.
    assert variables["elements"][1]["onClick"]["action"] == "close"


@pytest.mark.parametrize(("sdk", "shown"), [("ios", True), ("android", False)])
async def test_e3_ios_user_agent_key_is_read(agent: TestClient, sdk: Sdk, shown: bool) -> None:
    """``cmp_iospromo05`` targets ``device.os == iOS``: only the iOS ``userAgent`` body can see it."""
    user = await start_session(agent, sdk)
    body = body_for(sdk, "choose", session_user(sdk, user), data=[item_for(sdk, "selector", "ios_promo")])
    answer = await send(agent, "choose", encode(sdk, body))
    if shown:
        assert the_only_payload(answer)["campaignId"] == "cmp_iospromo05"
        assert selector_of(answer) == "ios_promo"
    else:
        assert answer["data"] == []


# -- E4 ----------------------------------------------------------------------------------------------------

INCLUDE_RULE = {"id": None, "type": "include", "slots": None, "conditions": []}
FILTER_RULE = {
    "id": None,
    "type": "filter",
    "slots": None,
    "conditions": [{"field": "category", "arguments": [{"action": "in", "value": ["shoes"]}]}],
}
MERGED = [("selector", "home_banner"), ("selector", "home_reco"), ("campaignId", "cmp_promo07")]


async def merged_choose(agent: TestClient) -> dict[str, Any]:
    user = await start_session(agent, "flutter")
    items = [
        item_for("flutter", "selector", "home_banner", rules=[INCLUDE_RULE]),
        item_for("flutter", "selector", "home_reco"),
        item_for("flutter", "campaignId", "cmp_promo07", rules=[FILTER_RULE]),
    ]
    raw = encode("flutter", body_for("flutter", "choose", session_user("flutter", user), data=items))
    assert (
        b'"id":null' in raw and b'"slots":null' in raw and b'"option":{"skusOnly":false,"fields":null}' in raw
    )
    answer = await send(agent, "choose", raw)
    assert answer["user"] == user
    return answer


async def test_e4_flutter_merged_choose_demultiplexes_per_caller(agent: TestClient) -> None:
    answer = await merged_choose(agent)
    banner, reco, promo = flutter_demux(answer, MERGED)
    assert banner["data"], "home_banner's caller got nothing: its entry must echo the selector (§5.3)"
    assert promo["data"], "cmp_promo07's caller got nothing: a selector-less entry must carry it (§5.3)"

    assert selector_of(banner) == "home_banner"
    assert campaign_ids(banner) == ["cmp_banner02"]
    assert banner["data"][0]["payload"][0]["contents"][0]["deliveryMethod"] == "inline"

    assert reco["data"] == []  # nothing for home_reco: an empty result, not an error

    assert promo["data"][0].get("selector") is None
    assert campaign_ids(promo) == ["cmp_promo07"]
    promo_content = promo["data"][0]["payload"][0]["contents"][0]
    assert promo_content["deliveryMethod"] == "bottom_sheet"
    assert isinstance(promo_content["variables"]["frameUI"]["container"], dict)

    # Order and count of data[] are irrelevant to the demux; every caller's slice parses on its own.
    reordered = {**answer, "data": list(reversed(answer["data"]))}
    assert flutter_demux(reordered, MERGED) == [banner, reco, promo]
    for caller in (banner, reco, promo):
        assert_conforms("choose", caller, base_url=PUBLIC_URL)


async def test_e4_negative_an_entry_without_selector_blanks_the_merged_caller(agent: TestClient) -> None:
    answer = await merged_choose(agent)
    broken = copy.deepcopy(answer)
    [banner_entry] = [e for e in broken["data"] if e.get("selector") == "home_banner"]
    del banner_entry["selector"]  # what a naive server does
    assert flutter_demux(broken, MERGED)[0]["data"] == []
    # ...while every SDK still parses the broken response: only the demux can catch this.
    assert_conforms("choose", broken, base_url=PUBLIC_URL)
    assert flutter_demux(answer, MERGED)[0]["data"] != []


async def test_e4_same_selector_with_different_options_goes_out_in_two_waves(agent: TestClient) -> None:
    user = await start_session(agent, "flutter")
    wave0_items = [
        item_for("flutter", "selector", "home_banner"),
        item_for("flutter", "campaignId", "cmp_promo07"),
    ]
    wave1_item = {"option": {"skusOnly": True, "fields": None}, "selector": "home_banner"}
    wave0 = await send(
        agent,
        "choose",
        encode("flutter", body_for("flutter", "choose", session_user("flutter", user), data=wave0_items)),
    )
    # A one-request wave goes through the single path: not demultiplexed, the caller takes data.first.
    wave1 = await send(
        agent,
        "choose",
        encode("flutter", body_for("flutter", "choose", session_user("flutter", user), data=[wave1_item])),
    )
    first = flutter_demux(wave0, [("selector", "home_banner"), ("campaignId", "cmp_promo07")])
    assert campaign_ids(first[0]) == ["cmp_banner02"]
    assert campaign_ids(first[1]) == ["cmp_promo07"]
    assert selector_of(wave1) == "home_banner"
    assert campaign_ids(wave1) == ["cmp_banner02"]
    # Sticky allocation: both waves show the caller the same variation.
    assert wave1["data"][0]["payload"][0]["variationId"] == first[0]["data"][0]["payload"][0]["variationId"]


async def test_e4_one_post_repeating_a_selector_answers_one_entry_per_item(agent: TestClient) -> None:
    user = await start_session(agent, "flutter")
    items = [
        item_for("flutter", "selector", "home_banner"),
        {"option": {"skusOnly": True, "fields": ["name"]}, "selector": "home_banner"},
    ]
    answer = await send(
        agent,
        "choose",
        encode("flutter", body_for("flutter", "choose", session_user("flutter", user), data=items)),
    )
    assert [e.get("selector") for e in answer["data"]] == ["home_banner", "home_banner"]
    assert campaign_ids(answer) == ["cmp_banner02", "cmp_banner02"]


# -- E5 ----------------------------------------------------------------------------------------------------


async def test_e5_android_choose_by_selector_returns_products(agent: TestClient) -> None:
    user = await start_session(agent, "android")
    ctx = ctx_for("android", "CART", "app://cart", ["sku-1"])
    raw = encode(
        "android",
        body_for(
            "android",
            "choose",
            android_user(user["uid"], user["ses"]),
            ctx=ctx,
            data=[item_for("android", "selector", "cart_reco")],
        ),
    )
    answer = await send(agent, "choose", raw)
    assert selector_of(answer) == "cart_reco"
    payload = the_only_payload(answer)
    assert payload["campaignId"] == "cmp_reco03"
    [content] = payload["contents"]
    assert content["contentType"] == "product"
    products = content["products"]
    assert products["strategyId"] == "str_also_bought"
    assert isinstance(products["fallback"], bool)
    for key in ("pageNumber", "countPages"):
        assert key not in products or type(products[key]) is int
    for slot in products.get("slots", []):
        assert isinstance(slot["item"], dict)
        assert isinstance(slot["fallback"], bool)
        assert type(slot["strId"]) is int
        assert isinstance(slot["slotId"], str) and slot["slotId"]
        assert {e["type"] for e in slot["events"]} >= {"visible_impression", "click"}


async def test_e5_android_numeric_selector_is_echoed_as_a_string(agent: TestClient) -> None:
    user = await start_session(agent, "android")
    raw = encode(
        "android",
        body_for(
            "android",
            "choose",
            android_user(user["uid"], user["ses"]),
            data=[item_for("android", "selector", 2024)],
        ),
    )
    assert b'"selector":2024,' in raw  # parseToJsonElement turned "2024" into a JSON number
    answer = await send(agent, "choose", raw)
    assert selector_of(answer) == "2024"
    assert the_only_payload(answer)["campaignId"] == "cmp_year2024"


# -- E6 ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sdk", ["flutter", "android"])
async def test_e6_group_answers_one_entry_per_campaign(agent: TestClient, sdk: Sdk) -> None:
    user = await start_session(agent, sdk)
    body = body_for(sdk, "choose", session_user(sdk, user), data=[item_for(sdk, "group", "home_slider")])
    answer = await send(agent, "choose", encode(sdk, body))
    assert len(answer["data"]) == 2
    payloads = [entry["payload"] for entry in answer["data"]]
    assert all(len(p) == 1 for p in payloads)
    assert sorted(p[0]["campaignId"] for p in payloads) == ["cmp_s1", "cmp_s2"]
    # Flutter's inline list: every root content, ordered by variables.index.
    roots = [c for p in payloads for c in p[0]["contents"] if c.get("step") is None]
    ordered = sorted(roots, key=lambda c: c["variables"].get("index", 0))
    assert [c["contentId"].split(":")[0] for c in ordered] == ["c1", "c2"]
    assert all(c["deliveryMethod"] == "inline" for c in roots)


# -- E7 ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sdk", SDKS)
async def test_e7_nothing_to_show_is_an_empty_200(agent: TestClient, sdk: Sdk) -> None:
    user = await start_session(agent, sdk)
    choose = body_for(
        sdk, "choose", session_user(sdk, user), data=[item_for(sdk, "selector", "unknown_slot")]
    )
    answer = await send(agent, "choose", encode(sdk, choose))
    assert answer["data"] == []
    assert answer["user"] == user
    visit = await send(agent, "visit", encode(sdk, body_for(sdk, "visit", session_user(sdk, user))))
    assert visit["campaigns"] == []
    assert visit["user"] == user


@pytest.mark.parametrize("value", [None, True, "home_reco"])
async def test_e7_android_unusable_identifiers_get_an_empty_200_not_an_error(
    agent: TestClient, value: Any
) -> None:
    """``null``/``true`` are what parseToJsonElement makes of "null"/"true" (§2.8): no entry, no 4xx."""
    user = await start_session(agent, "android")
    raw = encode(
        "android",
        body_for(
            "android",
            "choose",
            android_user(user["uid"], user["ses"]),
            data=[item_for("android", "selector", value)],
        ),
    )
    answer = await send(agent, "choose", raw)
    assert answer["data"] == []


# -- E8 ----------------------------------------------------------------------------------------------------


async def test_e8_ios_custom_user_visit_honours_the_app_session(agent: TestClient) -> None:
    anonymous = await start_session(agent, "ios")
    raw = encode("ios", body_for("ios", "visit", {"custom": "crm-42", "ses": "app-sess-9"}))
    answer = await send(agent, "visit", raw)
    assert answer["user"]["ses"] == "app-sess-9"
    assert answer["user"]["uid"] == anonymous["uid"]  # the custom id attached to this install's profile
    assert answer["campaigns"] == []

    # /choose always carries the *session* user, never the custom one.
    choose = body_for(
        "ios",
        "choose",
        {"uid": anonymous["uid"], "ses": anonymous["ses"]},
        data=[item_for("ios", "selector", "home_banner")],
    )
    chosen = await send(agent, "choose", encode("ios", choose))
    assert chosen["user"]["uid"] == anonymous["uid"]
    assert selector_of(chosen) == "home_banner"


async def test_e8_android_custom_user_with_explicit_nulls_is_keyed_by_custom(agent: TestClient) -> None:
    raw = encode("android", body_for("android", "visit", android_user(custom="crm-42", ses="app-sess-9")))
    first = await send(agent, "visit", raw)
    assert first["user"]["ses"] == "app-sess-9"
    # The same custom id from another install resolves to the same visitor.
    other = body_for("ios", "visit", {"custom": "crm-42", "ses": "app-sess-9"})
    again = await send(agent, "visit", encode("ios", other))
    assert again["user"] == first["user"]


# -- E9 ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("user", [{}, {"custom": "crm-42", "ses": "app-sess-9"}])
async def test_e9_flutter_in_app_form_submit_event_is_accepted(
    agent: TestClient, db_path: Path, user: dict[str, Any]
) -> None:
    form_event = {
        "type": "in-app-review-v1",
        "name": "In-app review submitted",
        "customProps": {
            "rating": "5",
            "campaignId": "6a5f4b7b73a8b1a026084fe2",
            "experienceId": "6a5f4b7b73a8b1a026084fe7",
        },
    }
    ctx = ctx_for("flutter", "OTHER", "", [])
    raw = encode("flutter", body_for("flutter", "event", user, ctx=ctx, data=[form_event]))
    assert b'"location":""' in raw
    answer = await send(agent, "event", raw)
    assert answer["campaigns"] == []
    if user:
        assert answer["user"]["ses"] == "app-sess-9"
    rows = db_rows(db_path, "SELECT uid, event FROM history WHERE type = 'in-app-review-v1'")
    assert [r["uid"] for r in rows] == [answer["user"]["uid"]]
    assert json.loads(rows[0]["event"])["customProps"]["rating"] == "5"


# -- E10 ---------------------------------------------------------------------------------------------------


async def test_e10_engagement_hit_is_recorded_once_per_window(
    agent: TestClient, clock: ManualClock, db_path: Path
) -> None:
    user = await start_session(agent, "ios")
    choose = body_for(
        "ios",
        "choose",
        {"uid": user["uid"], "ses": user["ses"]},
        data=[item_for("ios", "campaignId", "cmp_thanks01")],
    )
    answer = await send(agent, "choose", encode("ios", choose))
    payload = the_only_payload(answer)
    urls = {e["type"]: e["urls"][0] for e in payload["contents"][0]["events"]}
    close_url = urls["close"]
    assert ":" in close_url.partition("?")[2] and "%3A" not in close_url  # literal ':' as in the live format

    def hits() -> list[Any]:
        return db_rows(
            db_path,
            "SELECT type, decision_id, content_id, query, known_decision FROM engagements "
            "WHERE type = 'WCLOSE' AND decision_id = ?",
            (payload["decisionId"],),
        )

    assert await engage(agent, close_url) == 204
    [row] = hits()
    assert row["content_id"] == THANKS_CONTENT
    assert row["known_decision"] == 1
    assert row["query"] == close_url.partition("?")[2]

    # Android/iOS fire close twice (click, then onClose): the second hit within 5 s counts once.
    clock.advance(2)
    assert await engage(agent, close_url) == 204
    assert len(hits()) == 1

    clock.advance(6)  # a later, genuine hit is recorded again
    assert await engage(agent, close_url) == 204
    assert len(hits()) == 2

    # The other lifecycle URLs are separate hits.
    assert await engage(agent, urls["visible_impression"]) == 204
    assert len(db_rows(db_path, "SELECT 1 FROM engagements WHERE type = 'WRIMP'")) == 1


@pytest.mark.parametrize("prefix", ["/v2", "", "/v2/"])
async def test_e10_live_format_hit_with_unknown_decision_is_kept(
    agent: TestClient, db_path: Path, prefix: str
) -> None:
    path_qs = (
        f"{prefix}/engagement?type=WRIMP&decisionId=gf:6819e7c0d7303f0f6b0ef263:6a09e770c6e093f77eeb982b:1784634211"
        "&contentId=6a5f4b7b73a8b1a026084feb:b4f86ca37af249a2a0ac8d615d0203c2"
    )
    async with agent.session.get(server_url(agent, path_qs), headers=HEADERS) as resp:
        assert resp.status == 204
    [row] = db_rows(db_path, "SELECT decision_id, content_id, known_decision FROM engagements")
    assert row["decision_id"] == "gf:6819e7c0d7303f0f6b0ef263:6a09e770c6e093f77eeb982b:1784634211"
    assert row["content_id"] == "6a5f4b7b73a8b1a026084feb:b4f86ca37af249a2a0ac8d615d0203c2"
    assert row["known_decision"] == 0


# -- paths (§1.1) -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/choose", "/v2/choose", "//choose", "/v2//choose"])
async def test_choose_is_served_at_every_proxy_url_shape(agent: TestClient, path: str) -> None:
    user = await start_session(agent, "flutter")
    body = body_for(
        "flutter",
        "choose",
        session_user("flutter", user),
        data=[item_for("flutter", "selector", "home_banner")],
    )
    answer = await send(agent, "choose", encode("flutter", body), path=path)
    assert selector_of(answer) == "home_banner"


@pytest.mark.parametrize(
    ("kind", "path"), [("visit", "/v2/visit"), ("visit", "//visit"), ("event", "/v2//event")]
)
async def test_visit_and_event_are_served_at_every_proxy_url_shape(
    agent: TestClient, kind: Kind, path: str
) -> None:
    data = [PURCHASE] if kind == "event" else None
    answer = await send(agent, kind, encode("ios", body_for("ios", kind, {}, data=data)), path=path)
    expected = ["cmp_thanks01"] if kind == "event" else []
    assert [c["campaignId"] for c in answer["campaigns"]] == expected


# -- §9 row 14: bundle content is validated before it reaches an SDK -----------------------------------


async def test_bundle_content_that_would_break_an_sdk_never_reaches_it(
    make_client: MakeClient, wire_bundle: dict[str, Any]
) -> None:
    """§9 row 14: "Malformed element … validate before sending". The agent may refuse the bundle at load or
    repair/drop the content; it must not hand Android/iOS a response they cannot parse."""
    bundle = copy.deepcopy(wire_bundle)
    bundle["version"] = "wire-bad-element"
    banner = next(c for c in bundle["campaigns"] if c["campaignId"] == "cmp_banner02")
    banner["experiences"][0]["variations"][0]["contents"][0]["variables"]["elements"].append(
        {"text": "an element without type"}
    )
    try:
        compile_checked(parse_bundle(bundle)[0])
    except BundleInvalid as exc:  # refused at load: the SDKs never see it
        assert any("elements" in error for error in exc.errors), exc.errors
        return
    agent = await make_client(bundle=bundle, auth={"api_keys": [API_KEY]})
    user = await start_session(agent, "android")
    body = body_for(
        "android",
        "choose",
        android_user(user["uid"], user["ses"]),
        data=[item_for("android", "selector", "home_banner")],
    )
    async with agent.session.post(
        server_url(agent, "/choose"), data=encode("android", body), headers=HEADERS
    ) as resp:
        answer = json.loads(await resp.read())
    problems = [p for sdk in ("android", "ios") for p in check_response("choose", answer, sdk)]
    assert not problems, "\n".join(problems)
