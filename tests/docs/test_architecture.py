"""docs/architecture.md names every module of edge_agent/ in its package tree, names nothing that is not
a module, and gives the middlewares in the order the app installs them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "edge_agent"
DOC = ROOT / "docs" / "architecture.md"
PACKAGE_LINE = re.compile(r"^ {2}((?:[a-z_]+/)+)(?:\s|$)")
MODULE = re.compile(r"(?<![\w/.])([a-z_]+)\.py\b")


def tree() -> list[str]:
    """The fenced block that starts with ``edge_agent/``."""
    for block in re.findall(r"^```\n(.*?)^```", DOC.read_text(), re.M | re.S):
        if block.startswith("edge_agent/\n"):
            return str(block).splitlines()[1:]
    raise AssertionError("docs/architecture.md: no ```edge_agent/ …``` module tree")


def named() -> set[str]:
    """Modules the tree names, as paths under edge_agent/: a line ``  pkg/`` opens a package, the lines
    below it (indented further) belong to it; lines before the first package are the top level."""
    package, out = "", set()
    for line in tree():
        opened = PACKAGE_LINE.match(line)
        if opened:
            package = opened.group(1)
            line = line[opened.end() :]
        out.update(f"{package}{name}.py" for name in MODULE.findall(line))
    return out


def modules() -> set[str]:
    return {
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if p.name != "__init__.py" and "__pycache__" not in p.parts
    }


def test_every_module_is_named() -> None:
    missing = sorted(modules() - named())
    assert not missing, "docs/architecture.md: add to the module tree, under its package line: " + ", ".join(
        f"edge_agent/{m}" for m in missing
    )


def test_every_name_is_a_module() -> None:
    stale = sorted(named() - modules())
    assert not stale, "docs/architecture.md names modules that do not exist: " + ", ".join(stale)


def test_every_package_has_its_line() -> None:
    packages = {p.parent.relative_to(PACKAGE).as_posix() + "/" for p in PACKAGE.rglob("__init__.py")} - {"./"}
    lines = {m.group(1) for line in tree() if (m := PACKAGE_LINE.match(line))}
    assert packages <= lines, f"docs/architecture.md: no package line for {sorted(packages - lines)}"


def test_the_request_flow_is_the_pipeline() -> None:
    """The app installs one middleware, the pipeline, and the doc's request line names its steps in the
    order the pipeline's docstring gives them."""
    from edge_agent.agent import pipeline
    from edge_agent.agent.app import create_app
    from edge_agent.config.settings import load_settings

    app = create_app(load_settings(overrides={"storage": {"path": "/nonexistent/agent.db"}}))
    assert [m.__name__ for m in app.middlewares] == ["pipeline"]
    flow = re.search(r"^client ─▶ (.*?) ─▶ answer$", DOC.read_text(), re.M)
    assert flow, "docs/architecture.md: no `client ─▶ … ─▶ answer` line in 'A request'"
    steps = re.findall(r"^\d+\. \*\*([a-z -]+)\*\*", pipeline.__doc__ or "", re.M)
    assert flow.group(1).split(" ─▶ ") == steps
