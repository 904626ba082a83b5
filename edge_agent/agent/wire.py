"""Request bodies as the three SDKs send them, read tolerantly (sdk-wire-contract §2.9), in one pass.

:func:`parse_body` validates straight from the body bytes (``model_validate_json``); the tolerant rules
live in the models, so nothing re-reads the body after it: null ≡ absent everywhere (every model drops
its null keys, and free-form objects are null-stripped); unknown keys are ignored; ``ua``/``userAgent``
and ``option``/``options`` are both read; non-string scalar identifiers are stringified;
``ctx.attributes`` takes any JSON value. Structural type errors (``data`` not a list, an event ``value``
that is not a number) are 422s that name the field.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, TypeVar

import orjson
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticKnownError

from edge_agent.errors import ParameterError
from edge_agent.json_depth import depth_problem
from edge_agent.storage.finite import MAX_AMOUNT
from edge_agent.storage.values import product_id, scalar_text


def _product_id(value: Any) -> Any:
    """A product id: numbers as text (Android), ``""``, booleans and null as no id (``values.product_id``);
    an object or a list stays itself and is refused as not a string."""
    return value if isinstance(value, dict | list) else product_id(value)


def _lenient_str(value: Any) -> Any:
    """Identity fields: a non-string, non-scalar value is ignored rather than rejected (agent-api §3)."""
    value = scalar_text(value)
    return value if isinstance(value, str) else None


def _attribute_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return scalar_text(value)  # type: ignore[no-any-return]
    return orjson.dumps(value).decode()


def _attributes(value: Any) -> Any:
    if value is None or not isinstance(value, dict):
        return value
    return {str(k): _attribute_value(v) for k, v in value.items()}


ScalarStr = Annotated[str, BeforeValidator(scalar_text)]
# Money and quantities: finite and within ±MAX_AMOUNT, so no sum or product of them can overflow.
Amount = Annotated[float, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT, allow_inf_nan=False)]
LenientStr = Annotated[str | None, BeforeValidator(_lenient_str)]
ProductId = Annotated[str | None, BeforeValidator(_product_id)]


def _drop_nulls(value: Any) -> Any:
    """null ≡ absent: a model's null keys are left out, so each field takes its default."""
    if isinstance(value, dict) and None in value.values():
        return {k: v for k, v in value.items() if v is not None}
    return value


def _stripped(value: Any) -> Any:
    return strip_nulls(value)


# A free-form object (``ctx.utm``, ``ctx.attributes``, ``customProps``): null keys dropped at every level.
FreeForm = Annotated[dict[str, Any] | None, BeforeValidator(_stripped)]


class Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    _nulls = model_validator(mode="before")(_drop_nulls)


class UserIn(Wire):
    uid: LenientStr = None
    custom: LenientStr = None
    ses: LenientStr = None
    attributes: Annotated[dict[str, str | None] | None, BeforeValidator(_attributes)] = None


class DeviceIn(Wire):
    ua: str | None = Field(None, validation_alias=AliasChoices("ua", "userAgent"))
    id: LenientStr = None
    tracking: str | None = None
    permission: str | None = None
    user_time: str | None = Field(None, alias="userTime")
    ip: str | None = None


class CtxIn(Wire):
    type: str | None = None
    data: list[ScalarStr] | None = None
    location: str | None = None
    lng: str | None = None
    referrer: str | None = None
    page_number: int | None = Field(None, alias="pageNumber")
    utm: FreeForm = None
    attributes: FreeForm = None


class OptionsIn(Wire):
    is_return_counter: bool = Field(False, alias="isReturnCounter")
    is_return_user_info: bool = Field(False, alias="isReturnUserInfo")


class Envelope(Wire):
    sec: ScalarStr
    user: UserIn = Field(default_factory=UserIn)
    device: DeviceIn = Field(default_factory=DeviceIn)
    ctx: CtxIn = Field(default_factory=CtxIn)
    options: OptionsIn = Field(default_factory=OptionsIn)

    @cached_property
    def ctx_data(self) -> dict[str, Any]:
        """``ctx`` as plain data (wire names, no nulls): what is recorded and what conditions read."""
        return self.ctx.model_dump(by_alias=True, exclude_none=True)


class CartItemIn(Wire):
    product_id: ProductId = Field(None, alias="productId")
    quantity: Amount | None = None
    item_price: Amount | None = Field(None, alias="itemPrice")


class EventIn(BaseModel):
    """One ``/event`` item; fields the schema does not name are kept for the replay."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    _nulls = model_validator(mode="before")(_drop_nulls)

    type: str = Field(min_length=1)
    name: str | None = None
    value: Amount | None = None
    quantity: Amount | None = None
    product_id: ProductId = Field(None, alias="productId")
    currency: str | None = None
    cart: list[CartItemIn] | None = None
    event_time: str | None = Field(None, alias="eventTime")
    custom_props: FreeForm = Field(None, alias="customProps")


class VisitIn(Envelope):
    type: str | None = None


class EventRequest(Envelope):
    data: list[EventIn] = Field(min_length=1)


class ContentSettingsIn(Wire):
    skus_only: bool = Field(False, alias="skusOnly")
    fields: list[str] | None = None


class RuleArgumentIn(Wire):
    action: str = ""
    value: Annotated[list[Any], BeforeValidator(_stripped)] = Field(default_factory=list)


class RuleConditionIn(Wire):
    field: str = ""
    arguments: list[RuleArgumentIn] = Field(default_factory=list)


class RtRuleIn(Wire):
    id: Annotated[Any, BeforeValidator(_stripped)] = None
    type: str = ""
    slots: list[int] | None = None
    conditions: list[RuleConditionIn] = Field(default_factory=list)


class ChooseItemIn(Wire):
    selector: LenientStr = None
    campaign_id: LenientStr = Field(None, alias="campaignId")
    group: LenientStr = None
    option: ContentSettingsIn | None = Field(None, validation_alias=AliasChoices("option", "options"))
    rules: list[RtRuleIn] | None = None


def _objects_only(value: Any) -> Any:
    """A /choose item that is not an object has no identifier: it gets no entry rather than a 422."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else value


class ChooseRequest(Envelope):
    data: Annotated[list[ChooseItemIn], BeforeValidator(_objects_only)]
    content_settings: ContentSettingsIn | None = Field(None, alias="contentSettings")


class StrategyItemIn(Wire):
    strategy_id: ScalarStr = Field(alias="strategyId")
    option: ContentSettingsIn | None = Field(None, validation_alias=AliasChoices("option", "options"))
    rules: list[RtRuleIn] | None = None
    page_number: int | None = Field(None, alias="pageNumber", ge=1)
    page_size: int | None = Field(None, alias="pageSize", ge=1, le=500)


class StrategyRequest(Envelope):
    data: list[StrategyItemIn]


class UserRequest(Envelope):
    pass


def strip_nulls(value: Any) -> Any:
    """null ≡ absent: drop null-valued keys (at every level) before validation.

    Iterative, so no body can exhaust the interpreter's stack whatever its depth.
    """
    if not isinstance(value, dict | list):
        return value
    root: dict[str, Any] | list[Any] = {} if isinstance(value, dict) else []
    pending: list[tuple[Any, Any]] = [(value, root)]
    while pending:
        source, target = pending.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            if item is None and isinstance(source, dict):
                continue
            if isinstance(item, dict | list):
                child: Any = {} if isinstance(item, dict) else []
                pending.append((item, child))
                item = child
            if isinstance(target, dict):
                target[key] = item
            else:
                target.append(item)
    return root


def parse_json(body: bytes, max_depth: int) -> dict[str, Any]:
    """The body as a JSON object, refused (422) when empty, invalid or nested deeper than ``max_depth``."""
    doc = _json_object(body)
    if may_be_deeper(body, max_depth):
        check_depth(doc, max_depth)
    return doc


def _json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, refused (422) when empty or invalid; its depth is the caller's check."""
    if not body.strip():
        raise ParameterError("body: empty; expected a JSON object")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ParameterError(f"body: not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(doc, dict):
        raise ParameterError("body: expected a JSON object")
    return doc


def may_be_deeper(body: bytes, max_depth: int) -> bool:
    """Whether ``body`` could nest deeper than ``max_depth``: it has more brackets than that (an upper
    bound of its depth, counted in C; brackets inside strings only make it safer). An SDK body has a
    handful, so the exact walk of :func:`check_depth` runs only for the bodies that need it."""
    return body.count(b"{") + body.count(b"[") > max_depth


def check_depth(doc: Any, max_depth: int) -> None:
    """Refuse (422, naming the field) a body nested deeper than ``max_depth`` (``server.max_json_depth``).

    Checked once at parse, for the whole body, so everything read from it — attributes, ``customProps``,
    the raw body stored for replay — stays within what the walkers and the serializer can hold.
    """
    problem = depth_problem(doc, max_depth)
    if problem is not None:
        raise ParameterError("Parameter error", errors=[problem])


def _message(err: ErrorDetails) -> str:
    """pydantic's message in its Python wording whichever way the body was read (``model_validate_json``
    says "array" where ``model_validate`` says "list"), so a 422 reads the same on every path."""
    try:
        return PydanticKnownError(err["type"], err.get("ctx")).message()  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):  # a custom error (a validator's own message)
        return err["msg"]


def validation_messages(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        out.append(f"{loc}: {_message(err)}")
    return out


M = TypeVar("M", bound=BaseModel)


def parse_request(model: type[M], doc: dict[str, Any]) -> M:
    """``doc`` (a decoded body) as ``model``; a 422 naming each field that does not fit."""
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise ParameterError("Parameter error", errors=validation_messages(exc)) from None


# Where pydantic's JSON reader and orjson differ: it takes NaN/Infinity and numbers past a double (as inf)
# and ints past 64 bits (as ints orjson cannot write back); orjson refuses them. A body that may hold one
# is decoded by orjson first, so every body is read by one JSON rule.
_DIGITS_AND_E = bytes.maketrans(b"0123456789E", b"0000000000e")


def _read_apart(body: bytes) -> bool:
    """Whether ``body`` may hold such a value: ``NaN``, ``Infinity``, 19 digits in a row or an exponent of
    3 digits. Searched in C (a match inside a string only costs the slower path): a regex took longer
    than the validation itself."""
    if b"NaN" in body or b"Infinity" in body:
        return True
    flat = body.translate(_DIGITS_AND_E)
    return b"0" * 19 in flat or b"e000" in flat or b"e+000" in flat or b"e-000" in flat


def parse_body(
    model: type[M], body: bytes, max_depth: int, *, keep: bool = False
) -> tuple[dict[str, Any] | None, M]:
    """The body validated as ``model`` in one pass over its bytes, and — with ``keep``, for a route that
    replays it — the decoded body as sent (one C decode, then validated from it rather than parsed twice).

    Refused (422) when empty, not a JSON object, nested deeper than ``max_depth`` (naming the field) or
    not fitting the model (naming each field).
    """
    deep = may_be_deeper(body, max_depth)  # counted once per request: it scans the whole body
    if keep or deep or _read_apart(body):
        doc = _json_object(body)
        if deep:
            check_depth(doc, max_depth)
        return (doc if keep else None), parse_request(model, doc)
    try:
        return None, model.model_validate_json(body)
    except ValidationError as exc:
        if any(not err["loc"] for err in exc.errors()):  # not JSON or not an object: say so as parse_json
            _json_object(body)
        raise ParameterError("Parameter error", errors=validation_messages(exc)) from None
