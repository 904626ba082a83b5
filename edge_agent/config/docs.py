"""Generate docs/configuration.md from the settings model, so every field is documented by construction.

Run ``python -m edge_agent.config.docs > docs/configuration.md``; a test fails when the file is stale.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from edge_agent.config.settings import Settings

HEADER = """# Configuration

edge-agent reads one settings tree. Sources, highest first: command-line flags
(`serve --host/--port/--db/--bundle/--upstream`; `--db` and `--upstream` of the operator commands),
environment variables, the TOML file given with `--config`, then the defaults below.

- Environment: prefix `EDGE_AGENT_`, `__` between levels: `EDGE_AGENT_UPSTREAM__URL=https://…`,
  `EDGE_AGENT_AUTH__API_KEYS='["key-1"]'` (lists and maps as JSON).
- TOML: one table per section, e.g. `[server]` then `port = 8787`.
- `edge-agent check-config [--config FILE]` validates and prints the effective settings with secrets masked.
  A bad value stops the daemon at start with one line per bad field (`config error: server.port: …`) and
  exit code 2.

This page is generated from the settings model (`python -m edge_agent.config.docs`).
"""


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        try:
            value: Any = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "—"
        if isinstance(value, BaseModel):
            return "—"
        if field.alias == "path" or "Path" in type(value).__name__:
            return "per-user data dir `edge-agent/agent.db`"
    else:
        value = field.default
    if value is None:
        return "none"
    return f"`{json.dumps(value, default=str)}`"


# ``Annotated[T, AfterValidator(...)]`` reads as ``T``: the validator is behaviour, not type.
_ANNOTATED = re.compile(r"Annotated\[([\w.]+), [^\]]*\)\]")
_OPTIONAL = re.compile(r"Optional\[([\w.]+)\]")


def _type(field: FieldInfo) -> str:
    text = _ANNOTATED.sub(r"\1", str(field.annotation))
    text = text.replace("typing.", "").replace("pydantic.types.", "")
    text = text.replace("<class '", "").replace("'>", "").replace("pathlib.", "")
    text = text.replace("pydantic.networks.", "").replace(" | ", " or ")
    return _OPTIONAL.sub(r"\1 or None", text)


def render() -> str:
    lines = [HEADER]
    top = [(name, f) for name, f in Settings.model_fields.items()]
    lines.append("## Top level\n\n| setting | env | type | default | description |\n|---|---|---|---|---|")
    for name, field in top:
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            continue
        env = f"EDGE_AGENT_{name.upper()}"
        lines.append(f"| `{name}` | `{env}` | {_type(field)} | {_default(field)} | {field.description} |")
    for name, field in top:
        annotation = field.annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            continue
        lines.append(f"\n## `[{name}]` — {field.description}\n")
        lines.append("| setting | env | type | default | description |\n|---|---|---|---|---|")
        for sub, sub_field in annotation.model_fields.items():
            env = f"EDGE_AGENT_{name.upper()}__{sub.upper()}"
            lines.append(
                f"| `{name}.{sub}` | `{env}` | {_type(sub_field)} | {_default(sub_field)} | "
                f"{sub_field.description} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    print(render(), end="")


if __name__ == "__main__":
    main()
