"""One pass from the body bytes (``wire.parse_body``): the same model, or the same 422, as decoding first and
validating the decoded document; null ≡ absent is the models' own rule; the depth limit still holds."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from edge_agent.agent import wire
from edge_agent.errors import ParameterError
from tests.agent.test_wire_properties import PROPERTY, ROUTE_MODELS, bodies


def outcome(parse: Any) -> tuple[str, Any]:
    try:
        return "ok", parse().model_dump()
    except ParameterError as exc:
        return "422", exc.errors


@pytest.mark.parametrize("model", list(ROUTE_MODELS.values()), ids=lambda m: m.__name__)
@PROPERTY
@given(data=st.data())
def test_bytes_and_decoded_paths_agree(model: type[BaseModel], data: st.DataObject) -> None:
    body = json.dumps(data.draw(bodies(model))).encode()
    from_bytes = outcome(lambda: wire.parse_body(model, body, 32)[1])
    kept = outcome(lambda: wire.parse_body(model, body, 32, keep=True)[1])
    decoded = outcome(lambda: wire.parse_request(model, wire.parse_json(body, 32)))
    assert from_bytes == kept == decoded


def test_nulls_are_absent_at_every_level_except_attribute_deletes() -> None:
    body = {
        "sec": "s",
        "user": {"uid": None, "attributes": {"tier": None, "city": "Graz"}},
        "device": None,
        "ctx": {"type": None, "utm": {"utm_source": None, "deep": {"x": None, "y": 1}}},
        "data": [{"selector": None, "campaignId": "c1", "option": None}],
    }
    _, parsed = wire.parse_body(wire.ChooseRequest, json.dumps(body).encode(), 32)
    assert parsed.user.uid is None and parsed.user.attributes == {"tier": None, "city": "Graz"}
    assert parsed.ctx.utm == {"deep": {"y": 1}}
    assert parsed.data[0].campaign_id == "c1" and parsed.data[0].option is None


def test_an_int_past_64_bits_reads_as_orjson_reads_it() -> None:
    body = b'{"sec": "s", "user": {"attributes": {"n": [-9223372036854775809]}}, "data": []}'
    _, parsed = wire.parse_body(wire.ChooseRequest, body, 32)
    assert parsed == wire.parse_request(wire.ChooseRequest, wire.parse_json(body, 32))
    assert parsed.user.attributes is not None
    json.loads(parsed.user.attributes["n"] or "")  # stored as text that can be written back


def test_the_kept_body_is_the_body_as_sent() -> None:
    body = {"sec": "s", "data": [{"type": "x", "extra": None, "productId": 7}], "future": {"k": None}}
    raw, parsed = wire.parse_body(wire.EventRequest, json.dumps(body).encode(), 32, keep=True)
    assert raw == body  # nulls and unknown keys included: the replay sends what the app sent
    assert parsed.data[0].product_id == "7"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"", "body: empty"),
        (b"[1]", "body: expected a JSON object"),
        (b'{"sec": ', "body: not valid JSON"),
        (b'{"sec": "s", "ctx": {"attributes": {"a": NaN}}, "data": []}', "body: not valid JSON"),
        (b'{"sec": "s", "ctx": {"attributes": {"a": 1e400}}, "data": []}', "body: not valid JSON"),
        (b'{"sec": "s", "data": {"selector": "a"}}', "data: Input should be a valid list"),
        (b'{"sec": "s", "ctx": {"utm": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}, " + b'"data": []}',
         "ctx.utm.a.a.a"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("keep", [False, True])
def test_refusals_name_the_body_or_the_field(body: bytes, needle: str, keep: bool) -> None:
    with pytest.raises(ParameterError) as caught:
        wire.parse_body(wire.ChooseRequest, body, 32, keep=keep)
    assert needle in " | ".join(caught.value.errors)
