"""Structural validation of the bundle's condition language (bundle.md §2). Placeholder: replaced by the
full validator; the agent compiles validated conditions in ``agent/decide/conditions.py``."""

from __future__ import annotations

from typing import Any


def condition_problems(raw: Any, loc: str = "") -> list[str]:
    if not isinstance(raw, dict):
        return [f"{loc or 'condition'}: must be an object"]
    return []
