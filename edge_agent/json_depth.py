"""How deep a parsed JSON document nests: the one depth rule for request bodies and bundles.

Checked once where a document enters (a request body in ``agent/wire.py``, a bundle in
``storage/bundles.py``), without recursion, so everything downstream — validators, condition walkers and
compilers, the serializer (orjson refuses more than 255 levels) — only ever sees what the interpreter's
stack can hold. The root is level 1.
"""

from __future__ import annotations

from typing import Any

# A path in a depth problem shows this many steps, each cut to _KEY_CHARS: enough to find the field.
_STEPS = 10
_KEY_CHARS = 40


def depth_problem(doc: Any, max_depth: int) -> str | None:
    """``"<path>: nested deeper than N levels"`` for the first container past ``max_depth``, else None."""
    pending: list[tuple[Any, int, tuple[str, ...]]] = [(doc, 1, ())]
    while pending:
        value, depth, path = pending.pop()
        if depth > max_depth:
            shown = ".".join(step[:_KEY_CHARS] for step in path[:_STEPS]) or "body"
            more = "…" if len(path) > _STEPS else ""
            return f"{shown}{more}: nested deeper than {max_depth} levels"
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(item, dict | list):
                pending.append((item, depth + 1, (*path, str(key))))
    return None
