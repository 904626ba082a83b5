"""The wire checker itself: it accepts a real vendor response and the §8 examples, and it can fail.

Each mutation names exactly the SDKs whose parser rejects it (sdk-wire-contract §3.1–§3.4), so the
per-SDK columns are pinned in both directions: a violation where an SDK fails, silence where it copes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import FIXTURES
from tests.wire_checker import (
    SDKS,
    assert_conforms,
    assert_parses_everywhere,
    check_agent_rules,
    check_http,
    check_response,
)

LIVE = json.loads((FIXTURES / "choose-response-in-app-survey.json").read_text())
AGENT = "http://127.0.0.1:8787"

Mutation = Callable[[Any], None]


def _walk(body: Any, path: tuple[Any, ...]) -> tuple[Any, Any]:
    for key in path[:-1]:
        body = body[key]
    return body, path[-1]


def put(*path: Any, value: Any) -> Mutation:
    def mutate(body: Any) -> None:
        parent, key = _walk(body, path)
        parent[key] = value

    return mutate


def drop(*path: Any) -> Mutation:
    def mutate(body: Any) -> None:
        parent, key = _walk(body, path)
        del parent[key]

    return mutate


def failing_sdks(kind: Any, body: Any) -> set[str]:
    return {sdk for sdk in SDKS if check_response(kind, body, sdk)}


# -- the live response ----------------------------------------------------------------------------------

P = ("data", 0, "payload", 0)
C = (*P, "contents", 0)
V = (*C, "variables")
CLOSE_BUTTON = (*V, "elements", 3)
STYLE = (*V, "frameUI", "container", "style")
ALL = {"flutter", "android", "ios"}


def test_the_recorded_live_response_parses_in_every_sdk() -> None:
    assert_parses_everywhere("choose", LIVE)


def test_the_live_response_misses_what_the_agent_promises_on_top() -> None:
    """The live backend tracks neither the close button nor submit_form and sends ``user: {}``."""
    problems = check_agent_rules("choose", LIVE)
    joined = "\n".join(problems)
    assert "agent: user.uid: must always be a non-empty string" in joined
    assert "agent: user.ses: must always be a non-empty string" in joined
    assert (
        f"{'.'.join(map(str, CLOSE_BUTTON))}.onClick: onClick.action 'close' has no events[] entry" in joined
    )
    assert "onClick.action 'submit_form' has no events[] entry" in joined
    assert "must point at the agent" not in joined  # absolute https URLs are fine without a base
    on_agent = check_agent_rules("choose", LIVE, base_url=AGENT)
    assert sum("must point at the agent" in p for p in on_agent) == 5  # one per events[] URL


LIVE_MUTATIONS: list[tuple[str, Mutation, set[str]]] = [
    ("empty object", lambda b: b.clear(), {"flutter"}),  # {} still parses outside Flutter
    ("no user", drop("user"), {"flutter"}),
    ("user null", put("user", value=None), {"flutter"}),
    ("user not an object", put("user", value="u1"), {"flutter", "ios"}),
    ("numeric uid", put("user", value={"uid": 42}), {"flutter", "ios"}),
    ("non-string attribute", put("user", value={"attributes": {"age": 41}}), {"flutter", "ios"}),
    ("data not a list", put("data", value={}), ALL),
    ("numeric selector", put("data", 0, "selector", value=7), {"flutter", "ios"}),
    ("no payload", drop("data", 0, "payload"), ALL),
    ("no decisionId", drop(*P, "decisionId"), ALL),
    ("numeric campaignId", put(*P, "campaignId", value=12), ALL),
    ("null experienceId", put(*P, "experienceId", value=None), ALL),
    ("no variationId", drop(*P, "variationId"), ALL),
    ("contents null", put(*P, "contents", value=None), ALL),
    ("no contentId", drop(*C, "contentId"), ALL),
    ("numeric contentType", put(*C, "contentType", value=5), ALL),
    ("no deliveryMethod key", drop(*C, "deliveryMethod"), {"flutter", "ios"}),
    ("null deliveryMethod", put(*C, "deliveryMethod", value=None), {"flutter"}),
    ("unknown deliveryMethod", put(*C, "deliveryMethod", value="popup"), set()),
    ("no variables", drop(*C, "variables"), {"flutter"}),
    ("variables not an object", put(*C, "variables", value=[]), ALL),
    ("numeric templateSystemName", put(*C, "templateSystemName", value=1), {"android", "ios"}),
    ("fractional step", put(*C, "step", value=1.5), {"ios"}),
    ("string step", put(*C, "step", value="1"), ALL),
    ("hook without action", put(*V, "onVisibleImpression", value={}), ALL),
    ("hook with numeric action", put(*V, "onLoad", value={"action": 1}), ALL),
    ("frameUI without container", drop(*V, "frameUI", "container"), ALL),
    ("close without onClick.action", put(*V, "frameUI", "close", value={"onClick": {}}), ALL),
    ("container style enum", put(*STYLE, "contentAlignment", value="middle"), {"flutter"}),
    ("container layoutWidth", put(*STYLE, "layoutWidth", value="fill"), {"flutter"}),
    ("container numeric enum", put(*STYLE, "verticalAlignment", value=1), {"flutter", "android"}),
    ("container padding not an object", put(*STYLE, "padding", value=24), {"flutter", "android"}),
    ("container style not an object", put(*STYLE, value="card"), ALL),
    ("element without type", drop(*V, "elements", 0, "type"), {"android", "ios"}),
    ("element onClick without action", drop(*CLOSE_BUTTON, "onClick", "action"), {"android", "ios"}),
    ("element style enum value", put(*CLOSE_BUTTON, "style", "layoutWidth", value="fill"), set()),
    ("element style enum type", put(*CLOSE_BUTTON, "style", "layoutWidth", value=5), {"android"}),
    ("element style not an object", put(*CLOSE_BUTTON, "style", value="big"), {"android", "ios"}),
    ("numeric onClick.type", put(*CLOSE_BUTTON, "onClick", "type", value=1), {"ios"}),
    ("flutter index not a number", put(*V, "index", value="first"), {"flutter"}),
    ("event without type", drop(*C, "events", 0, "type"), ALL),
    ("urls is a string", put(*C, "events", 0, "urls", value="https://x/e"), ALL),
    ("numeric url", put(*C, "events", 1, "urls", value=[7]), ALL),
    ("products without fallback", put(*C, "products", value={"strategyId": "s"}), ALL),
    ("numeric strategyId", put(*C, "products", value={"strategyId": 3, "fallback": False}), ALL),
    ("slot strId fractional", put(*C, "products", value={"strategyId": "s", "fallback": False, "slots": [
        {"item": {}, "fallback": False, "strId": 1.5}]}), {"ios"}),
    ("slot without item", put(*C, "products", value={"strategyId": "s", "fallback": False, "slots": [
        {"fallback": False, "strId": 1}]}), ALL),
    ("slot fallback not bool", put(*C, "products", value={"strategyId": "s", "fallback": False, "slots": [
        {"item": {}, "fallback": "no", "strId": 1}]}), ALL),
    ("custom.json not a string", put(*C, "custom", value={"json": {}}), ALL),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "expected"), [m[1:] for m in LIVE_MUTATIONS], ids=[m[0] for m in LIVE_MUTATIONS]
)
def test_each_mutation_fails_exactly_the_sdks_it_breaks(mutate: Mutation, expected: set[str]) -> None:
    body = copy.deepcopy(LIVE)
    mutate(body)
    assert failing_sdks("choose", body) == expected, [
        p for s in SDKS for p in check_response("choose", body, s)
    ]


def test_a_body_that_is_not_an_object_fails_everywhere() -> None:
    for kind in ("visit", "event", "choose"):
        assert failing_sdks(kind, [LIVE]) == ALL
        assert failing_sdks(kind, None) == ALL


# -- /visit and /event ----------------------------------------------------------------------------------

CAMPAIGNS = {
    "user": {"uid": "u7c3e0a91b2d4", "ses": "s1f84c2d07e"},
    "campaigns": [{"campaignId": "cmp_thanks01", "trigger": "EVENT", "priority": 10, "delayTime": 500}],
}
CAMPAIGN_MUTATIONS: list[tuple[str, Mutation, set[str]]] = [
    ("no user", drop("user"), {"flutter"}),
    ("campaigns not a list", put("campaigns", value={}), {"flutter", "ios"}),
    ("no campaignId", drop("campaigns", 0, "campaignId"), ALL),
    ("numeric trigger", put("campaigns", 0, "trigger", value=1), ALL),
    ("fractional priority", put("campaigns", 0, "priority", value=1.5), {"ios"}),
    ("string delayTime", put("campaigns", 0, "delayTime", value="500"), {"flutter", "ios"}),
    ("whole float priority", put("campaigns", 0, "priority", value=10.0), set()),
    ("campaign not an object", put("campaigns", 0, value="cmp_thanks01"), ALL),
]


def test_the_e2_example_parses_and_conforms() -> None:
    assert_conforms("event", CAMPAIGNS)


@pytest.mark.parametrize(
    ("mutate", "expected"), [m[1:] for m in CAMPAIGN_MUTATIONS], ids=[m[0] for m in CAMPAIGN_MUTATIONS]
)
def test_campaign_mutations_fail_exactly_the_sdks_they_break(mutate: Mutation, expected: set[str]) -> None:
    body = copy.deepcopy(CAMPAIGNS)
    mutate(body)
    assert failing_sdks("visit", body) == expected


def test_integer_fields_must_be_json_integers_for_the_agent() -> None:
    body = copy.deepcopy(CAMPAIGNS)
    body["campaigns"][0]["priority"] = 10.0  # every SDK copes; we still promise an integer
    assert check_agent_rules("event", body) == [
        "agent: campaigns.0.priority: must be a JSON integer, got 10.0"
    ]


# -- HTTP outcome matrix (§4.1) -------------------------------------------------------------------------

ERROR_ENVELOPE = json.dumps(
    {"ok": False, "status": 422, "error": "Parameter error", "errors": ["x"]}
).encode()


@pytest.mark.parametrize(
    ("status", "content_type", "raw", "expected"),
    [
        (200, "application/json; charset=utf-8", json.dumps(CAMPAIGNS).encode(), set()),
        (204, None, b"", ALL),
        (200, "application/json", b"", ALL),
        (200, "application/json", b"{}", {"flutter"}),
        (200, "text/plain", json.dumps(CAMPAIGNS).encode(), {"flutter"}),
        (200, "application/json", b"<html>", ALL),
        (422, "application/json", ERROR_ENVELOPE, {"flutter", "ios"}),  # Android "succeeds" silently
        (503, "application/json", json.dumps(CAMPAIGNS).encode(), {"flutter", "ios"}),
    ],
    ids=["ok", "204", "empty-200", "no-user", "text-plain", "not-json", "422-envelope", "503"],
)
def test_http_outcomes_per_sdk(status: int, content_type: str | None, raw: bytes, expected: set[str]) -> None:
    failing = {sdk for sdk in SDKS if check_http("event", status, content_type, raw, sdk)}
    assert failing == expected


# -- the §8 example responses, filled in ----------------------------------------------------------------

DECISION = "gf:6819e7c0d7303f0f6b0ef263:6a09e770c6e093f77eeb982b:1784634211"
THANKS = "cnt_thanks01:3f9ad0c2b7e14a55a0d3c1e2f4b5a6c7"
USER = {"uid": "u7c3e0a91b2d4", "ses": "s1f84c2d07e"}


def url(code: str, content_id: str, extra: str = "") -> str:
    return f"{AGENT}/v2/engagement?type={code}&decisionId={DECISION}&contentId={content_id}{extra}"


def variation(campaign: str, contents: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "campaignId": campaign,
        "experienceId": f"exp_{campaign}",
        "variationId": f"var_{campaign}",
        "decisionId": DECISION,
        "contents": contents,
    }


def e3_content() -> dict[str, Any]:
    cid = THANKS
    codes = {"load": "WLOAD", "impression": "WIMP", "visible_impression": "WRIMP", "close": "WCLOSE"}
    return {
        "contentId": cid,
        "deliveryMethod": "modal",
        "contentType": "native",
        "variables": {
            "frameUI": {
                "container": {"style": {"backgroundColor": "#ffffffff", "cornerRadius": 16}},
                "close": None,
            },
            "elements": [
                {"type": "text", "text": "Thanks for your order!"},
                {"type": "button", "text": "Continue", "onClick": {"action": "close"}},
            ],
            "onLoad": {"action": "load"},
            "onImpression": {"action": "impression"},
            "onVisibleImpression": {"action": "visible_impression"},
            "onClose": {"action": "close"},
        },
        "events": [{"type": t, "urls": [url(code, cid)]} for t, code in codes.items()],
    }


def e5_content() -> dict[str, Any]:
    cid = "cnt_r3:5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"
    slot_url = "&slotId=slot_1&strId=3"
    return {
        "contentId": cid,
        "deliveryMethod": "inline",
        "contentType": "product",
        "variables": {"elements": [{"type": "products-container", "style": {"productContainerType": "row"}}]},
        "products": {
            "strategyId": "str_also_bought",
            "name": "Also bought",
            "fallback": False,
            "pageNumber": 1,
            "countPages": 1,
            "slots": [
                {
                    "item": {
                        "sku": "sku-9",
                        "name": "Socks",
                        "price": "199",
                        "imageUrl": "https://cdn.example/9.png",
                    },
                    "fallback": False,
                    "strId": 3,
                    "slotId": "slot_1",
                    "events": [
                        {"type": "visible_impression", "urls": [url("PRIMP", cid, slot_url)]},
                        {"type": "click", "urls": [url("PCLICK", cid, slot_url)]},
                    ],
                }
            ],
        },
    }


EXAMPLES = {
    "E3": {"user": USER, "data": [{"payload": [variation("cmp_thanks01", [e3_content()])]}]},
    "E4": {
        "user": USER,
        "data": [
            {
                "selector": "home_banner",
                "payload": [
                    variation(
                        "cmp_banner02",
                        [
                            {
                                "contentId": "cnt_b2:1",
                                "deliveryMethod": "inline",
                                "contentType": "banner",
                                "variables": {
                                    "elements": [{"type": "image", "src": "https://cdn.example/b.png"}]
                                },
                            }
                        ],
                    )
                ],
            },
            {
                "payload": [
                    variation(
                        "cmp_promo07",
                        [
                            {
                                "contentId": "cnt_p7:1",
                                "deliveryMethod": "bottom_sheet",
                                "contentType": "native",
                                "variables": {
                                    "frameUI": {"container": {}},
                                    "elements": [{"type": "text", "text": "-10%"}],
                                },
                            }
                        ],
                    )
                ],
            },
        ],
    },
    "E5": {
        "user": USER,
        "data": [{"selector": "cart_reco", "payload": [variation("cmp_reco03", [e5_content()])]}],
    },
    "E6": {
        "user": USER,
        "data": [
            {
                "payload": [
                    variation(
                        f"cmp_s{i + 1}",
                        [
                            {
                                "contentId": f"c{i + 1}:1",
                                "deliveryMethod": "inline",
                                "contentType": "banner",
                                "variables": {
                                    "index": i,
                                    "elements": [
                                        {"type": "image", "src": f"https://cdn.example/{i + 1}.png"}
                                    ],
                                },
                            }
                        ],
                    )
                ]
            }
            for i in range(2)
        ],
    },
    "E7": {"user": USER, "data": []},
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_contract_examples_conform(name: str) -> None:
    assert_conforms("choose", EXAMPLES[name], base_url=AGENT)


S = ("data", 0, "payload", 0, "contents", 0, "products", "slots", 0)
VENDOR_URL = f"https://ev.stellarlabs.ai/v2/engagement?type=WLOAD&decisionId={DECISION}&contentId={THANKS}"
OTHER_DECISION_URL = f"{AGENT}/v2/engagement?type=WLOAD&decisionId=gf:x:y:1&contentId={THANKS}"
E3C = ("data", 0, "payload", 0, "contents", 0)
URL0 = (*E3C, "events", 0, "urls", 0)
AGENT_MUTATIONS: list[tuple[str, str, Mutation, str]] = [
    ("E3", "no ses", drop("user", "ses"), "user.ses: must always be a non-empty string"),
    ("E7", "no data", drop("data"), "data: must always be a list"),
    ("E3", "relative URL", put(*URL0, value="/v2/engagement?x=1"), "must be absolute"),
    ("E3", "URL on the vendor host", put(*URL0, value=VENDOR_URL), "must point at the agent"),
    ("E3", "URL for another decision", put(*URL0, value=OTHER_DECISION_URL), "!= payload's"),
    ("E3", "hook without event", drop(*E3C, "events", 2), "'visible_impression' has no events[] entry"),
    ("E3", "click without event", drop(*E3C, "events", 3), "onClick.action 'close' has no events[] entry"),
    ("E3", "event without URLs", put(*E3C, "events", 0, "urls", value=[]), "needs at least one URL"),
    ("E3", "modal without frameUI", drop(*E3C, "variables", "frameUI"), "modal content needs it"),
    ("E3", "alias delivery method", put(*E3C, "deliveryMethod", value="bottomSheet"), "canonical"),
    ("E3", "bad decisionId", put(*P, "decisionId", value="12345"), "gf:<sec>:<uid>:<unix seconds>"),
    ("E5", "slot without slotId", drop(*S, "slotId"), "slotId: REQUIRED"),
    ("E5", "slot without visible_impression", drop(*S, "events", 0), "needs a visible_impression entry"),
    ("E5", "float strId", put(*S, "strId", value=3.0), "strId: must be a JSON integer"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("example", "mutate", "needle"),
    [m[:1] + m[2:] for m in AGENT_MUTATIONS],
    ids=[m[1] for m in AGENT_MUTATIONS],
)
def test_agent_rule_mutations_are_reported(example: str, mutate: Mutation, needle: str) -> None:
    body = copy.deepcopy(EXAMPLES[example])
    mutate(body)
    problems = check_agent_rules("choose", body, base_url=AGENT)
    assert problems and any(needle in p for p in problems), problems


def test_follow_url_without_type_is_reported() -> None:
    body = copy.deepcopy(EXAMPLES["E4"])
    body["data"][0]["payload"][0]["contents"][0]["variables"]["elements"][0]["onClick"] = {
        "action": "follow_url",
        "url": "https://shop.example/x",
    }
    problems = check_agent_rules("choose", body, base_url=AGENT)
    assert any("follow_url needs a string `type`" in p for p in problems), problems
    assert any("onClick.action 'follow_url' has no events[] entry" in p for p in problems), problems
    assert_parses_everywhere("choose", body)  # parses fine: iOS just never emits the callback
