"""Bundle contents that would break an SDK's parse of /choose are refused at load, naming the path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from edge_agent.errors import BundleInvalid
from edge_agent.storage.bundles import parse_bundle
from edge_agent.storage.content_rules import variables_problems

GOOD: dict[str, Any] = {
    "frameUI": {"container": {"style": {"contentAlignment": "center"}}, "close": None},
    "elements": [{"type": "text", "text": "hi"}, {"type": "button", "onClick": {"action": "close"}}],
    "onLoad": {"action": "load"},
}


def test_a_well_formed_content_has_no_problems() -> None:
    assert variables_problems(GOOD) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda v: v["elements"].append({"text": "no type"}), "variables.elements.2.type"),
        (lambda v: v["elements"].append("text"), "variables.elements.2: must be an object"),
        (lambda v: v.update(elements={"type": "text"}), "variables.elements: must be a list"),
        (lambda v: v["elements"][1].update(onClick={"url": "x"}), "variables.elements.1.onClick.action"),
        (lambda v: v.update(onLoad={"type": "load"}), "variables.onLoad.action"),
        (lambda v: v.update(onClose="close"), "variables.onClose: must be an object"),
        (lambda v: v.update(frameUI={"close": None}), "variables.frameUI.container: must be an object"),
        (lambda v: v["frameUI"].update(close="x"), "variables.frameUI.close: must be an object or null"),
        (
            lambda v: v["frameUI"]["container"]["style"].update(layoutWidth="full"),
            "variables.frameUI.container.style.layoutWidth",
        ),
        (
            lambda v: v["frameUI"]["container"]["style"].update(padding=8),
            "variables.frameUI.container.style.padding: must be an object",
        ),
        (
            lambda v: v["frameUI"]["container"].update(onClick={}),
            "variables.frameUI.container.onClick.action",
        ),
    ],
)
def test_each_breaking_shape_is_named(mutate: Any, expected: str) -> None:
    variables = copy.deepcopy(GOOD)
    mutate(variables)
    assert any(p.startswith(expected) for p in variables_problems(variables)), variables_problems(variables)


def test_the_bundle_is_refused_with_the_full_path(demo_bundle: dict[str, Any]) -> None:
    bundle = copy.deepcopy(demo_bundle)
    bundle["campaigns"][3]["experiences"][0]["variations"][0]["contents"][0]["variables"]["elements"] = [{}]
    with pytest.raises(BundleInvalid) as info:
        parse_bundle(bundle)
    assert info.value.errors == [
        "campaigns.3.experiences.0.variations.0.contents.0: variables.elements.0.type: "
        "must be a string (Android and iOS reject the response)"
    ]
