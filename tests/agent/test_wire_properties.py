"""Property tests of every request model in ``agent/wire.py``: generated inputs — valid
ones built from each model's own fields, and mutated ones where any field may hold any JSON — never raise
anything but a validation error, and posted through the real app never answer a 5xx.

CI-sized by default (40 examples per test); ``EDGE_AGENT_PROPERTY_EXAMPLES=500`` is the size of the run
in docs/security.md (12,000 examples, 7 minutes on two shared cores). Past about 1,000, add
``-o timeout=0``: some model tests then take longer than the suite's 120 s per test.
"""

from __future__ import annotations

import inspect
import json
import os
import types
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AliasChoices, BaseModel
from pydantic.fields import FieldInfo

from edge_agent.agent import wire
from edge_agent.config.settings import DEFAULT_MAX_JSON_DEPTH
from edge_agent.errors import ParameterError
from edge_agent.storage.finite import MAX_AMOUNT

EXAMPLES = int(os.environ.get("EDGE_AGENT_PROPERTY_EXAMPLES", "40"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# What each SDK route parses its body as (the handlers in agent/routes/).
ROUTE_MODELS: dict[str, type[BaseModel]] = {
    "/visit": wire.VisitIn,
    "/event": wire.EventRequest,
    "/choose": wire.ChooseRequest,
    "/strategy": wire.StrategyRequest,
    "/user": wire.UserRequest,
}

# Values the demo bundle and the SDKs use, so generated bodies also reach the paths that do something.
WORDS = (
    "s", "sku-1001", "sku-1002", "sku-1003", "PRODUCT", "HOMEPAGE", "CART", "add-to-cart-v1",
    "remove-from-cart-v1", "sync-cart-v1", "purchase-v1", "home-banner", "str_popular", "str_similar",
    "str_bought_together", "str_recent", "str_manual_top", "uid-1", "uid-2", "EUR", "contains", "equals",
)  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)
keys = st.sampled_from(WORDS) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)


def wire_models() -> list[type[BaseModel]]:
    """Every pydantic model defined in agent/wire.py: a new one is covered without a change here."""
    return [
        obj
        for obj in vars(wire).values()
        if inspect.isclass(obj) and issubclass(obj, BaseModel) and obj.__module__ == wire.__name__
    ]


def _wire_names(name: str, field: FieldInfo) -> list[str]:
    if isinstance(field.validation_alias, AliasChoices):
        return [c for c in field.validation_alias.choices if isinstance(c, str)]
    return [field.alias] if field.alias else [name]


def typed(annotation: Any) -> st.SearchStrategy[Any]:
    """Valid values of ``annotation``'s type, the way a JSON body holds them."""
    origin = get_origin(annotation)
    if origin is Annotated:  # constraints ride along (Amount, ScalarStr): the base type decides
        return typed(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return st.one_of(*(typed(arg) for arg in get_args(annotation)))
    if origin is list:
        (item,) = get_args(annotation) or (Any,)
        return st.lists(typed(item), min_size=1, max_size=3)
    if origin is dict:
        return st.dictionaries(keys, json_values, max_size=4)
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return valid_bodies(annotation)
    simple: dict[Any, st.SearchStrategy[Any]] = {
        type(None): st.none(),
        bool: st.booleans(),
        int: st.integers(min_value=1, max_value=50),
        float: st.floats(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT),
        str: st.sampled_from(WORDS) | st.text(max_size=12),
    }
    return simple.get(annotation, json_values)


def valid_bodies(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects ``model`` accepts as the SDKs send them: required fields always, optional ones sometimes,
    each under one of its wire names."""

    def field(name: str, info: FieldInfo) -> st.SearchStrategy[tuple[str, Any]]:
        return st.tuples(st.sampled_from(_wire_names(name, info)), typed(info.annotation))

    fields = model.model_fields.items()
    required = {name: field(name, info) for name, info in fields if info.is_required()}
    optional = {name: field(name, info) for name, info in fields if not info.is_required()}
    return st.fixed_dictionaries(required, optional=optional).map(lambda drawn: dict(drawn.values()))


@st.composite
def mutated(draw: st.DrawFn, model: type[BaseModel]) -> dict[str, Any]:
    """A valid body with one spot changed: a value replaced by any JSON, a key dropped, or a key added."""
    body = draw(valid_bodies(model))
    spot: Any = body
    while True:  # walk down to a random object (iteratively, like the agent's own walkers)
        children = [
            v for v in (spot.values() if isinstance(spot, dict) else spot) if isinstance(v, dict | list)
        ]
        if not children or draw(st.booleans()):
            break
        spot = draw(st.sampled_from(children))
    if isinstance(spot, list):
        spot.append(draw(json_values))
    elif spot and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(spot)))
        if draw(st.booleans()):
            spot[key] = draw(json_values)
        else:
            del spot[key]
    else:
        spot[draw(keys)] = draw(json_values)
    return body


def bodies(model: type[BaseModel]) -> st.SearchStrategy[Any]:
    """Mostly valid bodies, then mutated ones, then any JSON at all."""
    return st.one_of(valid_bodies(model), mutated(model), valid_bodies(model), json_values)


def test_every_wire_model_is_covered() -> None:
    reached: set[type[BaseModel]] = set()

    def walk(annotation: Any) -> None:
        if inspect.isclass(annotation) and issubclass(annotation, BaseModel) and annotation not in reached:
            reached.add(annotation)
            for field in annotation.model_fields.values():
                walk(field.annotation)
        for arg in get_args(annotation):
            walk(arg)

    for model in ROUTE_MODELS.values():
        walk(model)
    # Every model an SDK route parses is one of wire.py's, and the property below draws each of them.
    assert reached <= set(wire_models())
    assert {wire.EventIn, wire.CartItemIn, wire.ChooseItemIn, wire.StrategyItemIn, wire.RtRuleIn} <= reached


@pytest.mark.parametrize("model", wire_models(), ids=lambda m: m.__name__)
@PROPERTY
@given(data=st.data())
def test_models_raise_only_validation_errors(model: type[BaseModel], data: st.DataObject) -> None:
    drawn = data.draw(bodies(model).filter(lambda body: isinstance(body, dict)))
    # Through JSON text and the agent's own parser, as a body arrives (orjson reads ints past 64 bits as
    # floats, for one).
    doc = wire.parse_json(json.dumps(drawn).encode(), DEFAULT_MAX_JSON_DEPTH)
    try:
        parsed = wire.parse_request(model, doc)
    except ParameterError as exc:
        assert exc.status == 422 and exc.errors and all(": " in e for e in exc.errors)
    else:
        assert isinstance(parsed, model)
        json.dumps(parsed.model_dump(mode="json"))  # what was accepted can be recorded


@pytest.mark.parametrize("path", list(ROUTE_MODELS))
@PROPERTY
@given(data=st.data())
async def test_routes_answer_200_or_a_4xx_envelope(
    client: TestClient, path: str, data: st.DataObject
) -> None:
    model = ROUTE_MODELS[path]
    body = data.draw(bodies(model), label="body")
    prefix = data.draw(st.sampled_from(("", "/v2")), label="prefix")
    response = await client.post(
        prefix + path, data=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    answer = await response.json()
    assert response.status < 500, answer
    if response.status == 200:
        assert isinstance(answer["user"]["uid"], str) and isinstance(answer["user"]["ses"], str)
    else:
        assert 400 <= response.status < 500
        assert answer["ok"] is False and answer["status"] == response.status
        assert answer["errors"] and all(isinstance(e, str) for e in answer["errors"])
