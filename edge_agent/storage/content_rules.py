"""What a bundle content must look like for all three SDKs to parse the /choose answer that carries it.

One malformed piece fails the *whole* response in an SDK (sdk-wire-contract §3.3, §9 row 14), so these
are checked when the bundle loads and the bundle is refused, rather than discovered on a device.
"""

from __future__ import annotations

from typing import Any

HOOKS = ("onLoad", "onImpression", "onVisibleImpression", "onClose")

# Flutter decodes these style keys strictly; a bad value inside frameUI fails the whole response.
STRICT_STYLE_VALUES = {
    "contentAlignment": {"start", "center", "end"},
    "verticalAlignment": {"start", "center", "end"},
    "layoutWidth": {"match_parent", "wrap_content"},
    "productContainerType": {"row", "grid"},
}
STYLE_OBJECTS = ("size", "margin", "padding", "textStyle", "positioned", "gridSettings", "rating")


def _on_click(value: Any, loc: str, out: list[str]) -> None:
    if not isinstance(value, dict):
        out.append(f"{loc}: must be an object")
    elif not isinstance(value.get("action"), str):
        out.append(f"{loc}.action: must be a string")


def _style(value: Any, loc: str, out: list[str]) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        out.append(f"{loc}: must be an object")
        return
    for key, allowed in STRICT_STYLE_VALUES.items():
        if key in value and value[key] is not None and value[key] not in allowed:
            out.append(f"{loc}.{key}: must be one of {sorted(allowed)}")
    for key in STYLE_OBJECTS:
        if value.get(key) is not None and not isinstance(value[key], dict):
            out.append(f"{loc}.{key}: must be an object")


def _frame_ui(frame: Any, loc: str, out: list[str]) -> None:
    if not isinstance(frame, dict):
        out.append(f"{loc}: must be an object")
        return
    container = frame.get("container")
    if not isinstance(container, dict):
        out.append(f"{loc}.container: must be an object")
    else:
        _style(container.get("style"), f"{loc}.container.style", out)
        if container.get("onClick") is not None:
            _on_click(container["onClick"], f"{loc}.container.onClick", out)
    close = frame.get("close")
    if close is not None:
        if not isinstance(close, dict):
            out.append(f"{loc}.close: must be an object or null")
        else:
            _style(close.get("style"), f"{loc}.close.style", out)
            if close.get("onClick") is not None:
                _on_click(close["onClick"], f"{loc}.close.onClick", out)


def variables_problems(variables: dict[str, Any]) -> list[str]:
    """Every SDK-breaking problem in a content's ``variables``, as ``variables.<path>: <message>``."""
    out: list[str] = []
    for hook in HOOKS:
        if variables.get(hook) is not None:
            _on_click(variables[hook], f"variables.{hook}", out)
    if variables.get("frameUI") is not None:
        _frame_ui(variables["frameUI"], "variables.frameUI", out)
    elements = variables.get("elements")
    if elements is not None:
        if not isinstance(elements, list):
            out.append("variables.elements: must be a list")
        else:
            for i, element in enumerate(elements):
                loc = f"variables.elements.{i}"
                if not isinstance(element, dict):
                    out.append(f"{loc}: must be an object")
                    continue
                if not isinstance(element.get("type"), str):
                    out.append(f"{loc}.type: must be a string (Android and iOS reject the response)")
                if element.get("onClick") is not None:
                    _on_click(element["onClick"], f"{loc}.onClick", out)
                if element.get("style") is not None and not isinstance(element["style"], dict):
                    out.append(f"{loc}.style: must be an object")
    return out
