"""The ``attr`` paths of the condition language (bundle.md §2): one table the validator, the compiler and the
request's evaluation context all read.

The sections a condition reads (``user``, ``ctx``, ``device``, ``session``, ``profile``, ``cart``) are
declared once, as the ``TypedDict`` s below: each key is the path ``<section>.<key>`` unless marked
:data:`HIDDEN` (carried for the decision, not a condition path), and a :data:`KEYED` key is a flat map read
as ``<section>.<key>.<map key>``. The agent's ``EvalContext`` types its sections with these classes, so
mypy holds the builder to the same keys the validator accepts. Paths computed from other context fields
(``user.segments``, ``traffic.source``, ``time.*``) and the nested roots (``event.<f>``, ``item.<f>``) are
the rest of :data:`PATHS`.

:func:`resolve` is the one parser of a path: None means the validator rejects it; otherwise a
:class:`Path` says which context attribute to read and how to read the value out of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypedDict, get_type_hints

HIDDEN = "hidden"  # a section key no condition path reads (``user.uid``)
KEYED = "keyed"  # a flat map: everything after ``<section>.<key>.`` is one map key (dots included)


class UserFacts(TypedDict, total=False):
    uid: Annotated[str, HIDDEN]
    ses: Annotated[str, HIDDEN]
    custom: str | None
    isNew: bool
    attributes: Annotated[dict[str, str], KEYED]


class CtxFacts(TypedDict, total=False):
    """The request's ``ctx`` (agent-api §2), also stored with each history entry for ``count.where``."""

    type: str
    data: list[Any]
    location: str
    lng: str
    referrer: str
    pageNumber: int
    utm: Annotated[dict[str, str], KEYED]
    attributes: Annotated[dict[str, Any], KEYED]


class DeviceFacts(TypedDict, total=False):
    type: str  # mobile / tablet / desktop / other
    os: str | None
    browser: str | None
    brand: Annotated[str | None, HIDDEN]  # reported in UserInfo, not a condition path
    tracking: Any
    permission: Any


class SessionFacts(TypedDict, total=False):
    pageviews: int
    events: int
    ageSeconds: float


class ProfileFacts(TypedDict, total=False):
    visits: int
    daysSinceFirstSeen: int
    daysSinceLastPurchase: int  # missing when the profile never bought
    purchaseValue: int | float


class CartFacts(TypedDict, total=False):
    value: int | float
    items: int | float


#: Section name (also the context attribute that holds it) → its declaration.
SECTIONS: Mapping[str, type] = {
    "user": UserFacts,
    "ctx": CtxFacts,
    "device": DeviceFacts,
    "session": SessionFacts,
    "profile": ProfileFacts,
    "cart": CartFacts,
}
#: Roots followed by a nested field path (``event.customProps.rating``); a decimal part indexes a list.
NESTED_ROOTS = ("event", "item")


@dataclass(frozen=True, slots=True)
class Path:
    """How to read one path: ``read(getattr(context, source))``; ``read`` returns None for missing."""

    source: str
    read: Callable[[Any], Any]


def _get(mapping: Any, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None


def _key(key: str) -> Callable[[Any], Any]:
    return lambda section: section.get(key) if isinstance(section, dict) else None


def _map_key(mapping: str, key: str) -> Callable[[Any], Any]:
    return lambda section: _get(_get(section, mapping), key)


def _dig(parts: tuple[str, ...]) -> Callable[[Any], Any]:
    def read(value: Any) -> Any:
        for part in parts:
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and part.isdecimal() and int(part) < len(value):
                value = value[int(part)]
            else:
                return None
            if value is None:
                return None
        return value

    return read


def _listed(segments: Any) -> list[str] | None:
    """``user.segments``: the ids, computed on first use when the context holds a callable."""
    if callable(segments):
        segments = segments()
    # Operators treat only lists as lists; a str is a Sequence too but not a list of ids.
    return list(segments) if isinstance(segments, list | tuple) else None


def _same(value: Any) -> Any:
    return value


def _hour(local: Any) -> int | None:
    return local.hour if isinstance(local, datetime) else None


def _weekday(local: Any) -> int | None:
    return local.isoweekday() if isinstance(local, datetime) else None  # ISO: 1 = Monday … 7 = Sunday


def _declared() -> tuple[dict[str, Path], dict[str, tuple[str, str]]]:
    fields: dict[str, Path] = {}
    keyed: dict[str, tuple[str, str]] = {}  # "user.attributes." → ("user", "attributes")
    for section, declaration in SECTIONS.items():
        for key, hint in get_type_hints(declaration, include_extras=True).items():
            marks = getattr(hint, "__metadata__", ())
            if KEYED in marks:
                keyed[f"{section}.{key}."] = (section, key)
            elif HIDDEN not in marks:
                fields[f"{section}.{key}"] = Path(section, _key(key))
    return fields, keyed


_FIELDS, _KEYED = _declared()
#: Every path that is not a map key or a nested field, with how it is read.
PATHS: Mapping[str, Path] = {
    **_FIELDS,
    "user.segments": Path("segment_list", _listed),
    "traffic.source": Path("traffic_source", _same),
    "time.hour": Path("local_time", _hour),
    "time.weekday": Path("local_time", _weekday),
}
FIXED_PATHS = frozenset(PATHS)
#: Prefixes followed by exactly one map key (the rest of the path, dots included).
KEYED_PREFIXES = tuple(_KEYED)


def resolve(path: Any) -> Path | None:
    """How to read ``path``, or None when it is not a path of the grammar."""
    if not isinstance(path, str):
        return None
    if (fixed := PATHS.get(path)) is not None:
        return fixed
    for prefix, (section, mapping) in _KEYED.items():
        if path.startswith(prefix) and len(path) > len(prefix):
            return Path(section, _map_key(mapping, path[len(prefix) :]))
    root, _, rest = path.partition(".")
    parts = tuple(rest.split("."))
    if root in NESTED_ROOTS and rest and all(parts):
        return Path(root, _dig(parts))
    return None
