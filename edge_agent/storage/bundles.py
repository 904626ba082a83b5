"""The bundle (bundle.md): its pydantic schema, validation and persistence.

The schema lives here, not in the agent, so the sync pull job can validate a bundle without importing the
agent. Validation is strict about types and required fields and lists every problem as
``campaigns.3.experiences.0.variations.1.weight: ...``; unknown keys are ignored.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge_agent.errors import BundleInvalid
from edge_agent.json_depth import depth_problem
from edge_agent.storage.conditions import condition_problems
from edge_agent.storage.content_rules import variables_problems


def _check_condition(value: dict[str, Any]) -> dict[str, Any]:
    problems = condition_problems(value)
    if problems:
        raise ValueError("; ".join(problems))
    return value


Condition = Annotated[dict[str, Any], AfterValidator(_check_condition)]

# Ids an Android SDK would read back as a JSON number/boolean/null (sdk-wire-contract §2.8): Kotlin's
# toLongOrNull/toDoubleOrNull forms, hex floats, NaN/Infinity, true/false/null.
_NUMERIC_LOOKING = re.compile(
    r"""^[+-]?(
        (\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[dDfFlL]?
        |0[xX][0-9a-fA-F]*\.?[0-9a-fA-F]*([pP][+-]?\d+)?[dDfF]?
        |NaN|Infinity
    )$""",
    re.VERBOSE,
)
_UNSAFE_CHARS = re.compile(r"[\s{}\[\],:\"']")


def _safe_identifier(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    if _NUMERIC_LOOKING.match(value) or value in ("true", "false", "null"):
        raise ValueError(f"{value!r} reads as a JSON number/boolean/null in the Android SDK; use a prefix")
    if _UNSAFE_CHARS.search(value):
        raise ValueError(f"{value!r} contains whitespace or JSON punctuation the Android SDK cannot send")
    return value


SafeId = Annotated[str, AfterValidator(_safe_identifier)]


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=False, populate_by_name=True)


class ProductsRef(Model):
    strategy_id: str = Field(alias="strategyId")
    limit: int | None = Field(None, ge=1)


class Content(BaseModel):
    """An SDK content object; keys the schema does not name pass through to the SDKs unchanged."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    content_id: str = Field(alias="contentId", min_length=1)
    delivery_method: str = Field(alias="deliveryMethod", min_length=1)
    content_type: str = Field(alias="contentType", min_length=1)
    variables: dict[str, Any]
    template_system_name: str | None = Field(None, alias="templateSystemName")
    placeholder_id: str | None = Field(None, alias="placeholderId")
    step: int | None = None
    custom: dict[str, Any] | None = None
    auto_track: bool = Field(True, alias="autoTrack")
    products: ProductsRef | None = None

    @model_validator(mode="after")
    def _sdk_safe(self) -> Content:
        problems = variables_problems(self.variables)
        if problems:
            raise ValueError("\n".join(problems))
        return self


class Variation(Model):
    variation_id: str = Field(alias="variationId", min_length=1)
    weight: float = Field(ge=0)
    contents: list[Content]
    control: bool = False


class Experience(Model):
    experience_id: str = Field(alias="experienceId", min_length=1)
    variations: list[Variation] = Field(min_length=1)
    audience: Condition | None = None
    test_id: str | None = Field(None, alias="testId")

    @model_validator(mode="after")
    def _weights(self) -> Experience:
        if sum(v.weight for v in self.variations) <= 0:
            raise ValueError("variations: weights must add up to more than 0")
        return self


class Trigger(Model):
    type: Literal["PAGELOAD", "EVENT"]
    events: list[str] = Field(default_factory=list)
    condition: Condition | None = None
    delay_time: int = Field(0, alias="delayTime", ge=0)


class Frequency(Model):
    per_user: int | None = Field(None, alias="perUser", ge=1)
    per_session: int | None = Field(None, alias="perSession", ge=1)
    per_day: int | None = Field(None, alias="perDay", ge=1)
    count_on: Literal["impression", "decision"] = Field("impression", alias="countOn")


class Campaign(Model):
    campaign_id: SafeId = Field(alias="campaignId")
    experiences: list[Experience] = Field(min_length=1)
    name: str | None = None
    status: Literal["active", "paused"] = "active"
    priority: int = 0
    start: str | None = None
    end: str | None = None
    selector: str | None = None
    group: str | None = None
    triggers: list[Trigger] = Field(default_factory=list)
    audience: Condition | None = None
    frequency: Frequency = Field(default_factory=Frequency)

    @model_validator(mode="after")
    def _window(self) -> Campaign:
        from datetime import datetime

        for key in ("start", "end"):
            value = getattr(self, key)
            if value is not None:
                try:
                    datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    raise ValueError(f"{key}: not an RFC 3339 time: {value!r}") from None
        return self


class Segment(Model):
    segment_id: str = Field(alias="segmentId", min_length=1)
    condition: Condition
    name: str | None = None


StrategyType = Literal[
    "popular",
    "trending",
    "recently_viewed",
    "viewed_together",
    "bought_together",
    "similar",
    "new_arrivals",
    "manual",
]


class Strategy(Model):
    strategy_id: str = Field(alias="strategyId", min_length=1)
    type: StrategyType
    name: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    filter: Condition | None = None
    fallback: str | None = None


class CatalogItem(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    product_id: str = Field(alias="productId", min_length=1)


COLLECTIONS = {
    "segments": "segmentId",
    "campaigns": "campaignId",
    "strategies": "strategyId",
    "catalog": "productId",
}
"""The bundle's item collections and the field that identifies their items (deltas, counts; bundle.md)."""


class Bundle(Model):
    schema_: Literal[1] = Field(alias="schema")
    version: str = Field(min_length=1)
    generated_at: str | None = Field(None, alias="generatedAt")
    sections: list[str] | None = None
    segments: list[Segment] = Field(default_factory=list)
    campaigns: list[Campaign] = Field(default_factory=list)
    strategies: list[Strategy] = Field(default_factory=list)
    catalog: list[CatalogItem] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Bundle:
        problems: list[str] = []
        _unique(problems, "segments", [s.segment_id for s in self.segments], "segmentId")
        _unique(problems, "campaigns", [c.campaign_id for c in self.campaigns], "campaignId")
        _unique(problems, "strategies", [s.strategy_id for s in self.strategies], "strategyId")
        _unique(problems, "catalog", [i.product_id for i in self.catalog], "productId")
        content_ids = [
            ct.content_id
            for c in self.campaigns
            for e in c.experiences
            for v in e.variations
            for ct in v.contents
        ]
        _unique(problems, "campaigns", content_ids, "contentId")
        strategy_ids = {s.strategy_id for s in self.strategies}
        for i, s in enumerate(self.strategies):
            if s.fallback is not None and s.fallback not in strategy_ids:
                problems.append(f"strategies.{i}.fallback: unknown strategy {s.fallback!r}")
        for ci, c in enumerate(self.campaigns):
            for ei, e in enumerate(c.experiences):
                for vi, v in enumerate(e.variations):
                    for ki, ct in enumerate(v.contents):
                        if ct.products is not None and ct.products.strategy_id not in strategy_ids:
                            problems.append(
                                f"campaigns.{ci}.experiences.{ei}.variations.{vi}.contents.{ki}."
                                f"products.strategyId: unknown strategy {ct.products.strategy_id!r}"
                            )
        segment_ids = {s.segment_id for s in self.segments}
        for ref, where in _segment_refs(self):
            if ref not in segment_ids:
                problems.append(f"{where}: unknown segment {ref!r}")
        if problems:
            raise ValueError("\n".join(problems))
        return self


def _unique(problems: list[str], where: str, ids: list[str], key: str) -> None:
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            problems.append(f"{where}: duplicate {key} {value!r}")
        seen.add(value)


def _segment_refs(bundle: Bundle) -> list[tuple[str, str]]:
    refs: list[tuple[str, str]] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("segment"), str):
                refs.append((node["segment"], where))
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}.{i}")

    for i, segment in enumerate(bundle.segments):
        walk(segment.condition, f"segments.{i}.condition")
    for i, c in enumerate(bundle.campaigns):
        walk(c.audience, f"campaigns.{i}.audience")
        for t, trig in enumerate(c.triggers):
            walk(trig.condition, f"campaigns.{i}.triggers.{t}.condition")
        for e, exp in enumerate(c.experiences):
            walk(exp.audience, f"campaigns.{i}.experiences.{e}.audience")
    for i, strategy in enumerate(bundle.strategies):
        walk(strategy.filter, f"strategies.{i}.filter")
    return refs


def bundle_errors(exc: ValidationError) -> list[str]:
    lines: list[str] = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        for part in msg.split("\n"):
            lines.append(f"{loc}: {part}" if loc else part)
    return lines


#: Deepest nesting of objects and arrays a bundle may have (the root is level 1). Room for conditions at
#: their own limit (``storage/conditions.MAX_DEPTH`` levels, two containers each, under a campaign's
#: ``experiences``) and for nested content variables; far under what the validators, the condition
#: compiler and the serializer (255) can hold.
BUNDLE_MAX_DEPTH = 100


def bundle_depth_problem(doc: Any) -> str | None:
    """Why a bundle document (or an upstream delta) nests too deep to read safely; None if it does not."""
    return depth_problem(doc, BUNDLE_MAX_DEPTH)


def parse_bundle(raw: bytes | str | dict[str, Any]) -> tuple[Bundle, dict[str, Any]]:
    """Validate a bundle; return the model and the raw document. Raise BundleInvalid listing every error.

    Every bundle enters here (a file, ``POST /admin/bundle``, the upstream, SQLite): the depth is checked
    before anything walks the document.
    """
    if isinstance(raw, bytes | str):
        if not raw.strip():
            raise BundleInvalid("empty bundle", errors=["bundle: empty document"])
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BundleInvalid("not JSON", errors=[f"bundle: not valid JSON: {exc}"]) from None
    else:
        doc = raw
    if not isinstance(doc, dict):
        raise BundleInvalid("not an object", errors=["bundle: must be a JSON object"])
    problem = bundle_depth_problem(doc)
    if problem is not None:
        raise BundleInvalid("bundle rejected: nested too deep", errors=[problem])
    try:
        return Bundle.model_validate(doc), doc
    except ValidationError as exc:
        errors = bundle_errors(exc)
        raise BundleInvalid(f"bundle rejected: {len(errors)} problem(s)", errors=errors) from None


# -- persistence (runs on the writer thread / a reader thread) ---------------------------------------


def store_bundle(
    conn: sqlite3.Connection, doc: dict[str, Any], *, source: str, now: float, etag: str | None = None
) -> None:
    """Make ``doc`` the current bundle; the current one becomes ``previous``. One transaction."""
    conn.execute("DELETE FROM bundles WHERE slot = 'previous'")
    conn.execute("UPDATE bundles SET slot = 'previous' WHERE slot = 'current'")
    conn.execute(
        "INSERT INTO bundles (slot, version, source, loaded_at, etag, body) "
        "VALUES ('current', ?, ?, ?, ?, ?)",
        (doc["version"], source, now, etag, orjson.dumps(doc).decode()),
    )


def load_stored_bundle(conn: sqlite3.Connection, slot: str = "current") -> dict[str, Any] | None:
    """The stored bundle: ``stored_bundle_head`` plus ``doc``, the document itself; or None."""
    head = stored_bundle_head(conn, slot)
    if head is None:
        return None
    (body,) = conn.execute("SELECT body FROM bundles WHERE slot = ?", (slot,)).fetchone()
    return {**head, "doc": orjson.loads(body)}


def stored_bundle_head(conn: sqlite3.Connection, slot: str = "current") -> dict[str, Any] | None:
    """The stored bundle's ``{version, source, loadedAt, etag}`` without reading its body: the cheap
    check the sync jobs run on every tick (has another process stored a new bundle? what do we send as
    ``since`` / ``If-None-Match``?)."""
    row = conn.execute(
        "SELECT version, source, loaded_at, etag FROM bundles WHERE slot = ?", (slot,)
    ).fetchone()
    if row is None:
        return None
    return {
        "version": row["version"],
        "source": row["source"],
        "loadedAt": row["loaded_at"],
        "etag": row["etag"],
    }


def touch_bundle_checked(conn: sqlite3.Connection, now: float) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('bundle_checked_at', ?)", (str(now),))
