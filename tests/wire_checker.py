"""One reusable checker for SDK-facing responses (sdk-wire-contract §3, §4.1, §4.5, §6).

Two layers, kept apart on purpose:

* **Parse success per SDK** — ``check_response(kind, body, sdk)`` encodes the REQ columns of §3.1–§3.4 for
  Flutter 0.22.2, Android 1.0.3 and iOS 1.0.4: what makes that SDK's parser reject the *whole* response.
  ``check_http`` adds the transport rules of §3.1/§4.1 (status, content type, empty bodies).
  A real response of the vendor (``tests/fixtures/choose-response-in-app-survey.json``) passes this layer.
* **What edge-agent promises beyond parse success** — ``check_agent_rules(kind, body)``: string ``uid`` and
  ``ses`` always (§4.5), JSON integers for integer fields (§3.1), absolute engagement URLs that point at the
  agent and carry the decision and content ids (§6.3, agent-api §5), a matching ``events[]`` entry for every
  lifecycle hook and every ``onClick.action`` (§6.1), ``slotId`` and slot events on products (§6.2), canonical
  delivery methods (§3.4), ``frameUI.container`` on overlays (§3.3), ``type`` with ``follow_url`` (§3.4).

Every function returns a list of violations (``"<sdk>: <path>: <problem>"``); empty means conforming.
Absent and ``null`` are the same thing to every SDK parser (§3.1) except where the contract says a *key*
is required (iOS ``deliveryMethod``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import unquote

Kind = Literal["visit", "event", "choose"]
Sdk = Literal["flutter", "android", "ios"]
SDKS: tuple[Sdk, ...] = ("flutter", "android", "ios")

LIFECYCLE_HOOKS = ("onLoad", "onImpression", "onVisibleImpression", "onClose")
# Flutter decodes these four style keys with $enumDecodeNullable and no unknown fallback (§3.3).
FLUTTER_STYLE_ENUMS = {
    "contentAlignment": frozenset({"start", "center", "end"}),
    "verticalAlignment": frozenset({"start", "center", "end"}),
    "layoutWidth": frozenset({"match_parent", "wrap_content"}),
    "productContainerType": frozenset({"row", "grid"}),
}
NESTED_STYLE_OBJECTS = ("size", "margin", "padding", "textStyle", "positioned", "gridSettings", "rating")
CANONICAL_DELIVERY_METHODS = frozenset(
    {"modal", "bottom_sheet", "full_screen", "snackbar", "inline", "json", "tooltip"}
)
OVERLAY_DELIVERY_METHODS = frozenset({"modal", "bottom_sheet", "full_screen"})
DECISION_ID = re.compile(r"gf:[^:]+:.+:\d+")


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integral(value: Any) -> bool:
    return _is_num(value) and (isinstance(value, int) or float(value).is_integer())


def _is_json_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


class _Parse:
    """Walks one response the way one SDK's parser does and collects what would make it throw."""

    def __init__(self, sdk: Sdk) -> None:
        self.sdk = sdk
        self.problems: list[str] = []

    def fail(self, path: str, problem: str) -> None:
        self.problems.append(f"{self.sdk}: {path or '<body>'}: {problem}")

    # -- typed field helpers ------------------------------------------------------------------------

    def req_str(self, obj: dict[str, Any], key: str, path: str) -> None:
        if not _is_str(obj.get(key)):
            self.fail(f"{path}.{key}", f"REQUIRED string, got {_kind_name(obj.get(key))}")

    def opt_str(self, obj: dict[str, Any], key: str, path: str) -> None:
        value = obj.get(key)
        if value is not None and not _is_str(value):
            self.fail(f"{path}.{key}", f"must be a string when present, got {_kind_name(value)}")

    def req_bool(self, obj: dict[str, Any], key: str, path: str) -> None:
        if not isinstance(obj.get(key), bool):
            self.fail(f"{path}.{key}", f"REQUIRED boolean, got {_kind_name(obj.get(key))}")

    def int_ok(self, value: Any, *, android_lenient: bool = False) -> bool:
        """Flutter takes any number (truncating), Android any number, iOS ``Int`` only integral numbers."""
        if self.sdk == "ios":
            return _is_integral(value)
        if self.sdk == "android" and android_lenient:
            return True  # non-numbers silently become null
        return _is_num(value)

    def req_int(self, obj: dict[str, Any], key: str, path: str) -> None:
        value = obj.get(key)
        if value is None or not self.int_ok(value):
            self.fail(f"{path}.{key}", f"REQUIRED integer, got {value!r}")

    def opt_int(self, obj: dict[str, Any], key: str, path: str, *, android_lenient: bool = False) -> None:
        value = obj.get(key)
        if value is not None and not self.int_ok(value, android_lenient=android_lenient):
            self.fail(f"{path}.{key}", f"must be an integer when present, got {value!r}")

    def req_list(self, obj: dict[str, Any], key: str, path: str) -> list[Any]:
        value = obj.get(key)
        if not isinstance(value, list):
            self.fail(f"{path}.{key}", f"REQUIRED list, got {_kind_name(value)}")
            return []
        return value

    def opt_list(self, obj: dict[str, Any], key: str, path: str) -> list[Any]:
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(f"{path}.{key}", f"must be a list when present, got {_kind_name(value)}")
            return []
        return value

    def objects(self, items: list[Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for i, item in enumerate(items):
            if isinstance(item, dict):
                yield f"{path}.{i}", item
            else:
                self.fail(f"{path}.{i}", f"must be an object, got {_kind_name(item)}")

    # -- §3.1 / §3.2 -------------------------------------------------------------------------------------

    def body(self, kind: Kind, body: Any) -> None:
        if not isinstance(body, dict):
            self.fail("", f"top level must be a JSON object, got {_kind_name(body)}")
            return
        self.user(body)
        if kind == "choose":
            self.choose(body)
        else:
            self.campaign_ids(body)

    def user(self, body: dict[str, Any]) -> None:
        user = body.get("user")
        if user is None:
            if self.sdk == "flutter":
                self.fail("user", "REQUIRED object (Flutter throws a TypeError without it)")
            return
        if not isinstance(user, dict):
            if self.sdk != "android":  # Android reads it with a safe cast
                self.fail("user", f"must be an object, got {_kind_name(user)}")
            return
        if self.sdk == "android":
            return  # uid/ses are read with `as? String`; the rest is ignored
        for key in ("uid", "ses", "custom"):
            self.opt_str(user, key, "user")
        attributes = user.get("attributes")
        if attributes is None:
            return
        if not isinstance(attributes, dict):
            self.fail("user.attributes", f"must be a map of strings, got {_kind_name(attributes)}")
            return
        for name, value in attributes.items():
            if not _is_str(value):
                self.fail(f"user.attributes.{name}", f"must be a string, got {_kind_name(value)}")

    def campaign_ids(self, body: dict[str, Any]) -> None:
        campaigns = body.get("campaigns")
        if campaigns is None:
            return
        if not isinstance(campaigns, list):
            if self.sdk != "android":  # Android: a non-array is read as []
                self.fail("campaigns", f"must be a list, got {_kind_name(campaigns)}")
            return
        for path, campaign in self.objects(campaigns, "campaigns"):
            self.req_str(campaign, "campaignId", path)
            self.opt_str(campaign, "trigger", path)
            for key in ("priority", "delayTime"):
                self.opt_int(campaign, key, path, android_lenient=True)

    # -- §3.3 ----------------------------------------------------------------------------------------

    def choose(self, body: dict[str, Any]) -> None:
        for path, entry in self.objects(self.opt_list(body, "data", ""), "data"):
            if self.sdk != "android":  # Android: `as? String`
                self.opt_str(entry, "selector", path)
            for vpath, variation in self.objects(self.req_list(entry, "payload", path), f"{path}.payload"):
                for key in ("campaignId", "experienceId", "variationId", "decisionId"):
                    self.req_str(variation, key, vpath)
                contents = self.req_list(variation, "contents", vpath)
                for cpath, content in self.objects(contents, f"{vpath}.contents"):
                    self.content(content, cpath)

    def content(self, content: dict[str, Any], path: str) -> None:
        self.req_str(content, "contentId", path)
        self.req_str(content, "contentType", path)
        if self.sdk == "flutter":
            self.req_str(content, "deliveryMethod", path)  # $enumDecode throws on null/missing
        elif self.sdk == "ios" and "deliveryMethod" not in content:
            self.fail(f"{path}.deliveryMethod", "REQUIRED key (keyNotFound when missing)")
        if self.sdk != "flutter":  # Flutter maps any unknown value to `unknown`
            self.opt_str(content, "templateSystemName", path)
        if self.sdk == "flutter":
            self.opt_str(content, "placeholderId", path)
        self.opt_int(content, "step", path)
        variables = content.get("variables")
        if variables is None:
            if self.sdk == "flutter":
                self.fail(f"{path}.variables", "REQUIRED object")
        elif not isinstance(variables, dict):
            self.fail(f"{path}.variables", f"must be an object, got {_kind_name(variables)}")
        else:
            self.variables(variables, f"{path}.variables")
        for epath, event in self.objects(self.opt_list(content, "events", path), f"{path}.events"):
            self.event(event, epath)
        products = content.get("products")
        if products is not None:
            if isinstance(products, dict):
                self.products(products, f"{path}.products")
            else:
                self.fail(f"{path}.products", f"must be an object, got {_kind_name(products)}")
        custom = content.get("custom")
        if custom is not None:
            if isinstance(custom, dict):
                self.opt_str(custom, "json", f"{path}.custom")
            else:
                self.fail(f"{path}.custom", f"must be an object, got {_kind_name(custom)}")

    def event(self, event: dict[str, Any], path: str) -> None:
        self.req_str(event, "type", path)
        urls = self.req_list(event, "urls", path)
        for i, url in enumerate(urls):
            if not _is_str(url):
                self.fail(f"{path}.urls.{i}", f"must be a string, got {_kind_name(url)}")

    def on_click(self, on_click: Any, path: str) -> None:
        if not isinstance(on_click, dict):
            self.fail(path, f"must be an object, got {_kind_name(on_click)}")
            return
        self.req_str(on_click, "action", path)
        if self.sdk == "ios":  # `type` (follow_url target) decodes as an optional String
            self.opt_str(on_click, "type", path)

    def variables(self, variables: dict[str, Any], path: str) -> None:
        for hook in LIFECYCLE_HOOKS:
            value = variables.get(hook)
            if value is None:
                continue
            if isinstance(value, dict):
                self.req_str(value, "action", f"{path}.{hook}")
            else:
                self.fail(f"{path}.{hook}", f"must be an object, got {_kind_name(value)}")
        frame = variables.get("frameUI")
        if frame is not None:
            self.frame_ui(frame, f"{path}.frameUI")
        elements = variables.get("elements")
        if elements is not None:
            if isinstance(elements, list):
                self.elements(elements, f"{path}.elements")
            else:
                self.fail(f"{path}.elements", f"must be a list, got {_kind_name(elements)}")
        if self.sdk == "flutter":
            self.opt_int(variables, "index", path)

    def frame_ui(self, frame: Any, path: str) -> None:
        if not isinstance(frame, dict):
            self.fail(path, f"must be an object, got {_kind_name(frame)}")
            return
        container = frame.get("container")
        if not isinstance(container, dict):
            self.fail(
                f"{path}.container", f"REQUIRED object when frameUI is present, got {_kind_name(container)}"
            )
        else:
            self.frame_part(container, f"{path}.container")
        close = frame.get("close")
        if close is not None:
            if isinstance(close, dict):
                self.frame_part(close, f"{path}.close")
            else:
                self.fail(f"{path}.close", f"must be an object or null, got {_kind_name(close)}")

    def frame_part(self, part: dict[str, Any], path: str) -> None:
        """``frameUI.container`` / ``frameUI.close``: failures here fail the response in every SDK."""
        if part.get("onClick") is not None:
            self.on_click(part["onClick"], f"{path}.onClick")
        if part.get("style") is not None:
            self.style(part["style"], f"{path}.style", in_frame=True)

    def elements(self, elements: list[Any], path: str) -> None:
        if self.sdk == "flutter":
            return  # Flutter demotes any malformed element to `unknown` and never fails
        for epath, element in self.objects(elements, path):
            self.req_str(element, "type", epath)
            if element.get("onClick") is not None:
                self.on_click(element["onClick"], f"{epath}.onClick")
            if element.get("style") is not None:
                self.style(element["style"], f"{epath}.style", in_frame=False)

    def style(self, style: Any, path: str, *, in_frame: bool) -> None:
        if self.sdk == "flutter" and not in_frame:
            return
        if not isinstance(style, dict):
            self.fail(path, f"must be an object, got {_kind_name(style)}")
            return
        if self.sdk == "ios":
            return  # every key inside a style object is decoded with try?
        for key, allowed in FLUTTER_STYLE_ENUMS.items():
            value = style.get(key)
            if value is None:
                continue
            if self.sdk == "flutter" and value not in allowed:
                self.fail(f"{path}.{key}", f"must be one of {sorted(allowed)}, got {value!r}")
            elif self.sdk == "android" and not _is_str(value):
                self.fail(f"{path}.{key}", f"must be a string, got {_kind_name(value)}")
        for key in NESTED_STYLE_OBJECTS:
            value = style.get(key)
            if value is not None and not isinstance(value, dict):
                self.fail(f"{path}.{key}", f"must be an object, got {_kind_name(value)}")
        if self.sdk == "flutter":
            self.opt_str(style, "backgroundImage", path)

    def products(self, products: dict[str, Any], path: str) -> None:
        self.req_str(products, "strategyId", path)
        self.req_bool(products, "fallback", path)
        self.opt_str(products, "name", path)
        self.opt_int(products, "pageNumber", path)
        self.opt_int(products, "countPages", path)
        for spath, slot in self.objects(self.opt_list(products, "slots", path), f"{path}.slots"):
            if not isinstance(slot.get("item"), dict):
                self.fail(f"{spath}.item", f"REQUIRED object, got {_kind_name(slot.get('item'))}")
            self.req_bool(slot, "fallback", spath)
            self.req_int(slot, "strId", spath)
            self.opt_str(slot, "slotId", spath)
            for epath, event in self.objects(self.opt_list(slot, "events", spath), f"{spath}.events"):
                self.event(event, epath)


def check_response(kind: Kind, body: Any, sdk: Sdk) -> list[str]:
    """Every reason ``sdk`` would reject this decoded ``/visit``, ``/event`` or ``/choose`` body (§3)."""
    walker = _Parse(sdk)
    walker.body(kind, body)
    return walker.problems


def _is_json_media_type(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def check_http(kind: Kind, status: int, content_type: str | None, raw: bytes, sdk: Sdk) -> list[str]:
    """The outcome matrix of §4.1 for one HTTP answer as ``sdk`` sees it, body checks included."""
    problems: list[str] = []
    if sdk in ("flutter", "ios") and not 200 <= status < 300:
        problems.append(f"{sdk}: <http>: status {status} is an error (only 2xx succeeds)")
    if sdk == "flutter" and not _is_json_media_type(content_type):
        problems.append(f"{sdk}: <http>: content type {content_type!r} is not JSON, the body stays a String")
    if not raw.strip():
        problems.append(f"{sdk}: <http>: empty body (status {status}) cannot be decoded")
        return problems
    try:
        body = json.loads(raw)
    except ValueError as exc:
        problems.append(f"{sdk}: <http>: body is not JSON ({exc})")
        return problems
    return problems + check_response(kind, body, sdk)


# -- what edge-agent promises beyond parse success -------------------------------------------------------


def _query(url: str) -> dict[str, str]:
    _, _, query = url.partition("?")
    out: dict[str, str] = {}
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        out.setdefault(unquote(name), unquote(value))
    return out


def _dicts(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """The object items of a list (the parse layer reports anything else)."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict):
                yield i, item


def _click_actions(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "onClick" and isinstance(value, dict):
                yield f"{path}.onClick", value
            yield from _click_actions(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _click_actions(value, f"{path}.{i}")


class _Agent:
    def __init__(self, base_url: str | None) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.problems: list[str] = []

    def fail(self, path: str, problem: str) -> None:
        self.problems.append(f"agent: {path or '<body>'}: {problem}")

    def json_int(self, obj: dict[str, Any], key: str, path: str, *, required: bool = False) -> None:
        value = obj.get(key)
        if value is None and not required:
            return
        if not _is_json_int(value):
            self.fail(f"{path}.{key}", f"must be a JSON integer, got {value!r}")

    def body(self, kind: Kind, body: Any) -> None:
        if not isinstance(body, dict):
            self.fail("", "must be a JSON object")
            return
        user = body.get("user")
        if not isinstance(user, dict):
            self.fail("user", f"must always be an object (§4.5), got {_kind_name(user)}")
        else:
            for key in ("uid", "ses"):
                if not (_is_str(user.get(key)) and user[key]):
                    self.fail(
                        f"user.{key}", f"must always be a non-empty string (§4.5), got {user.get(key)!r}"
                    )
            attributes = user.get("attributes")
            if attributes is not None and not (
                isinstance(attributes, dict) and all(_is_str(v) for v in attributes.values())
            ):
                self.fail("user.attributes", "values must be strings (§4.5)")
        if kind == "choose":
            if not isinstance(body.get("data"), list):
                self.fail("data", f"must always be a list, got {_kind_name(body.get('data'))}")
                return
            for i, entry in _dicts(body["data"]):
                for j, variation in _dicts(entry.get("payload")):
                    self.variation(variation, f"data.{i}.payload.{j}")
        else:
            if not isinstance(body.get("campaigns"), list):
                self.fail("campaigns", f"must always be a list, got {_kind_name(body.get('campaigns'))}")
                return
            for i, campaign in _dicts(body["campaigns"]):
                path = f"campaigns.{i}"
                if not _is_str(campaign.get("trigger")):
                    self.fail(f"{path}.trigger", "must be the trigger type")
                self.json_int(campaign, "priority", path, required=True)
                self.json_int(campaign, "delayTime", path, required=True)

    def variation(self, variation: dict[str, Any], path: str) -> None:
        decision_id = variation.get("decisionId")
        if not (_is_str(decision_id) and DECISION_ID.fullmatch(decision_id)):
            self.fail(f"{path}.decisionId", f"must be gf:<sec>:<uid>:<unix seconds>, got {decision_id!r}")
        for k, content in _dicts(variation.get("contents")):
            self.content(content, decision_id, f"{path}.contents.{k}")

    def url(self, url: Any, path: str, decision_id: Any, content_id: Any, slot_id: Any = None) -> None:
        if not (_is_str(url) and url.startswith(("http://", "https://"))):
            self.fail(path, f"engagement URL must be absolute http(s) (§6.3), got {url!r}")
            return
        if self.base_url is not None and not url.startswith(f"{self.base_url}/v2/engagement?"):
            self.fail(
                path, f"engagement URL must point at the agent ({self.base_url}/v2/engagement), got {url!r}"
            )
        query = _query(url)
        if not query.get("type"):
            self.fail(path, f"engagement URL has no type code: {url!r}")
        if query.get("decisionId") != decision_id:
            self.fail(path, f"decisionId in URL {query.get('decisionId')!r} != payload's {decision_id!r}")
        if query.get("contentId") != content_id:
            self.fail(path, f"contentId in URL {query.get('contentId')!r} != content's {content_id!r}")
        if slot_id is not None and query.get("slotId") != slot_id:
            self.fail(path, f"slotId in URL {query.get('slotId')!r} != slot's {slot_id!r}")

    def content(self, content: dict[str, Any], decision_id: Any, path: str) -> None:
        content_id = content.get("contentId")
        method = content.get("deliveryMethod")
        if method not in CANONICAL_DELIVERY_METHODS:
            self.fail(f"{path}.deliveryMethod", f"must be a canonical value (§3.4), got {method!r}")
        self.json_int(content, "step", path)
        variables = content.get("variables")
        variables = variables if isinstance(variables, dict) else {}
        frame = variables.get("frameUI")
        if method in OVERLAY_DELIVERY_METHODS and not (
            isinstance(frame, dict) and isinstance(frame.get("container"), dict)
        ):
            self.fail(f"{path}.variables.frameUI.container", f"{method} content needs it (§3.3)")
        event_types = set()
        for m, event in _dicts(content.get("events")):
            event_types.add(event.get("type"))
            for u, url in enumerate(event.get("urls") if isinstance(event.get("urls"), list) else []):
                self.url(url, f"{path}.events.{m}.urls.{u}", decision_id, content_id)
            if not event.get("urls"):
                self.fail(f"{path}.events.{m}.urls", "an events[] entry needs at least one URL")
        for hook in LIFECYCLE_HOOKS:
            hook_value = variables.get(hook)
            action = hook_value.get("action") if isinstance(hook_value, dict) else None
            if action is not None and action not in event_types:
                self.fail(f"{path}.variables.{hook}", f"action {action!r} has no events[] entry (§6.1)")
        for click_path, on_click in _click_actions(variables, f"{path}.variables"):
            action = on_click.get("action")
            if action not in event_types:
                self.fail(click_path, f"onClick.action {action!r} has no events[] entry (§6.1)")
            if action == "follow_url" and not _is_str(on_click.get("type")):
                self.fail(click_path, "follow_url needs a string `type` (§3.4; iOS emits no callback)")
        products = content.get("products")
        if isinstance(products, dict):
            self.products(products, decision_id, content_id, f"{path}.products")

    def products(self, products: dict[str, Any], decision_id: Any, content_id: Any, path: str) -> None:
        self.json_int(products, "pageNumber", path)
        self.json_int(products, "countPages", path)
        for n, slot in _dicts(products.get("slots")):
            spath = f"{path}.slots.{n}"
            self.json_int(slot, "strId", spath, required=True)
            slot_id = slot.get("slotId")
            if not (_is_str(slot_id) and slot_id):
                self.fail(f"{spath}.slotId", "REQUIRED: Flutter never fires product impressions without it")
            events = list(_dicts(slot.get("events")))
            if "visible_impression" not in {event.get("type") for _, event in events}:
                self.fail(f"{spath}.events", "needs a visible_impression entry (§6.2)")
            for m, event in events:
                for u, url in enumerate(event.get("urls") if isinstance(event.get("urls"), list) else []):
                    self.url(url, f"{spath}.events.{m}.urls.{u}", decision_id, content_id, slot_id)


def check_agent_rules(kind: Kind, body: Any, *, base_url: str | None = None) -> list[str]:
    """Every way ``body`` breaks what edge-agent promises beyond parse success (see module docstring).

    With ``base_url`` (the agent's ``public_url``) engagement URLs must also start with
    ``<base_url>/v2/engagement?``.
    """
    walker = _Agent(base_url)
    walker.body(kind, body)
    return walker.problems


def assert_parses_everywhere(kind: Kind, body: Any) -> None:
    problems = [p for sdk in SDKS for p in check_response(kind, body, sdk)]
    assert not problems, "response does not parse in every SDK:\n" + "\n".join(problems)


def assert_conforms(kind: Kind, body: Any, *, base_url: str | None = None) -> None:
    """Parses in all three SDKs and keeps every agent-level promise."""
    problems = [p for sdk in SDKS for p in check_response(kind, body, sdk)]
    problems += check_agent_rules(kind, body, base_url=base_url)
    assert not problems, "response breaks the wire contract:\n" + "\n".join(problems)
