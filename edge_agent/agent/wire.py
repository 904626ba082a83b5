"""Request bodies as the three SDKs send them, read tolerantly (sdk-wire-contract §2.9).

null ≡ absent everywhere; unknown keys are ignored; ``ua``/``userAgent`` and ``option``/``options`` are
both read; non-string scalar identifiers are stringified; ``ctx.attributes`` takes any JSON value.
Structural type errors (``data`` not a list, an event ``value`` that is not a number) are 422s that name
the field.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, TypeVar

import orjson
from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

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


class Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


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
    utm: dict[str, Any] | None = None
    attributes: dict[str, Any] | None = None


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

    type: str = Field(min_length=1)
    name: str | None = None
    value: Amount | None = None
    quantity: Amount | None = None
    product_id: ProductId = Field(None, alias="productId")
    currency: str | None = None
    cart: list[CartItemIn] | None = None
    event_time: str | None = Field(None, alias="eventTime")
    custom_props: dict[str, Any] | None = Field(None, alias="customProps")


class VisitIn(Envelope):
    type: str | None = None


class EventRequest(Envelope):
    data: list[EventIn] = Field(min_length=1)


class ContentSettingsIn(Wire):
    skus_only: bool = Field(False, alias="skusOnly")
    fields: list[str] | None = None


class RuleArgumentIn(Wire):
    action: str = ""
    value: list[Any] = Field(default_factory=list)


class RuleConditionIn(Wire):
    field: str = ""
    arguments: list[RuleArgumentIn] = Field(default_factory=list)


class RtRuleIn(Wire):
    id: Any = None
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


def _keep_attribute_nulls(raw: dict[str, Any], cleaned: dict[str, Any]) -> None:
    """``user.attributes.<k>: null`` deletes the key, so it must survive the null stripping."""
    user = raw.get("user")
    if isinstance(user, dict) and isinstance(user.get("attributes"), dict):
        cleaned.setdefault("user", {})["attributes"] = user["attributes"]


def parse_json(body: bytes, max_depth: int) -> dict[str, Any]:
    """The body as a JSON object, refused (422) when empty, invalid or nested deeper than ``max_depth``."""
    if not body.strip():
        raise ParameterError("body: empty; expected a JSON object")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ParameterError(f"body: not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(doc, dict):
        raise ParameterError("body: expected a JSON object")
    check_depth(doc, max_depth)
    return doc


def check_depth(doc: Any, max_depth: int) -> None:
    """Refuse (422, naming the field) a body nested deeper than ``max_depth`` (``server.max_json_depth``).

    Checked once at parse, for the whole body, so everything read from it — attributes, ``customProps``,
    the raw body stored for replay — stays within what the walkers and the serializer can hold.
    """
    problem = depth_problem(doc, max_depth)
    if problem is not None:
        raise ParameterError("Parameter error", errors=[problem])


def validation_messages(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        out.append(f"{loc}: {err['msg']}")
    return out


M = TypeVar("M", bound=BaseModel)


def parse_request(model: type[M], doc: dict[str, Any]) -> M:
    cleaned = strip_nulls(doc)
    _keep_attribute_nulls(doc, cleaned)
    try:
        return model.model_validate(cleaned)
    except ValidationError as exc:
        raise ParameterError("Parameter error", errors=validation_messages(exc)) from None
