"""Content as the SDKs receive it: lifecycle hooks, engagement ``events[]`` and absolute engagement URLs.

The SDKs fire a lifecycle URL only when both ``variables.onX = {"action": T}`` and an ``events[]`` entry
of type T exist, and a click fires the entry named after ``onClick.action`` (sdk-wire-contract §6.1), so
every hook and every click action gets an entry. Per-content work that does not depend on the request is
done once per bundle (``ContentTemplate``); rendering only mints the URLs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from edge_agent.storage.bundles import Content

LIFECYCLE_HOOKS = (
    ("onLoad", "load"),
    ("onImpression", "impression"),
    ("onVisibleImpression", "visible_impression"),
    ("onClose", "close"),
)

CONTENT_CODES = {
    "load": "WLOAD",
    "impression": "WIMP",
    "visible_impression": "WRIMP",
    "close": "WCLOSE",
}
CLICK_CODE = "WCLICK"  # follow_url, follow_deeplink, request_push, copy, submit_form, click, …
PRODUCT_CODES = {"visible_impression": "PRIMP", "click": "PCLICK"}
PRODUCT_EVENT_TYPES = ("visible_impression", "click")

# Codes whose hits count as an impression for frequency caps (bundle.md §4).
IMPRESSION_CODES = frozenset({"WIMP", "WRIMP"})


def _q(value: str) -> str:
    # The live format sends ':' literally; everything else unsafe in a query is escaped.
    return quote(value, safe=":")


def _ids(decision_id: str, content_id: str, slot_id: str | None = None, str_id: int | None = None) -> str:
    """An engagement URL's query after ``type`` (``<base>/v2/engagement?type=<code>`` + this): what one
    content's (or slot's) URLs share, so it is quoted once for all of them."""
    query = f"&decisionId={_q(decision_id)}&contentId={_q(content_id)}"
    if slot_id is not None:
        query += f"&slotId={_q(slot_id)}"
    if str_id is not None:
        query += f"&strId={str_id}"
    return query


def _click_actions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "onClick" and isinstance(value, dict) and isinstance(value.get("action"), str):
                yield value["action"]
            yield from _click_actions(value)
    elif isinstance(node, list):
        for value in node:
            yield from _click_actions(value)


@dataclass(slots=True, frozen=True)
class ContentTemplate:
    """A bundle content prepared once: the SDK object without ``events`` and the actions to track."""

    content_id: str
    body: dict[str, Any]  # shared between requests: never mutate
    actions: tuple[str, ...]
    strategy_id: str | None
    products_limit: int | None

    @classmethod
    def build(cls, content: Content) -> ContentTemplate:
        body = content.model_dump(by_alias=True, exclude_none=True, exclude={"auto_track", "products"})
        variables = dict(body["variables"])
        if content.auto_track:
            for hook, action in LIFECYCLE_HOOKS:
                variables.setdefault(hook, {"action": action})
        body["variables"] = variables
        actions: list[str] = []
        for hook, _ in LIFECYCLE_HOOKS:
            hook_value = variables.get(hook)
            if isinstance(hook_value, dict) and isinstance(hook_value.get("action"), str):
                actions.append(hook_value["action"])
        actions.extend(_click_actions(variables))
        unique = tuple(dict.fromkeys(actions))
        ref = content.products
        return cls(
            content_id=content.content_id,
            body=body,
            actions=unique,
            strategy_id=ref.strategy_id if ref else None,
            products_limit=ref.limit if ref else None,
        )

    def render(
        self, base_url: str, decision_id: str, products: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        ids = _ids(decision_id, self.content_id)
        events = [
            {
                "type": action,
                "urls": [f"{base_url}/v2/engagement?type={CONTENT_CODES.get(action, CLICK_CODE)}{ids}"],
            }
            for action in self.actions
        ]
        out = {**self.body, "events": events}
        if products is not None:
            out["products"] = products
        return out


def slot_events(
    base_url: str, decision_id: str, content_id: str, slot_id: str, str_id: int
) -> list[dict[str, Any]]:
    ids = _ids(decision_id, content_id, slot_id, str_id)
    return [
        {"type": kind, "urls": [f"{base_url}/v2/engagement?type={PRODUCT_CODES[kind]}{ids}"]}
        for kind in PRODUCT_EVENT_TYPES
    ]
