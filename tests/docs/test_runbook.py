"""docs/runbook.md names every state and reason the agent can report: the verdict levels, the sync and
storage states, the readiness problems, the pull, watch and sync-run outcomes, and the forms of
``lastError``. They are read from the code (types, and the literal text where a message is built), so a
new one fails here until the runbook says what it means and what to do."""

from __future__ import annotations

import ast
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.agent.verdict import Level
from edge_agent.storage.health import Health
from edge_agent.sync.drain import PushOutcome
from edge_agent.sync.pull_model import Outcome as PullOutcome
from edge_agent.sync.state import State
from edge_agent.sync.watch import WatchOutcome

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "edge_agent"
RUNBOOK = (ROOT / "docs" / "runbook.md").read_text()


def parsed(relative: str) -> ast.Module:
    return ast.parse((PACKAGE / relative).read_text())


def literal_head(node: ast.expr) -> str | None:
    """A string constant, or an f-string's text before its first ``{…}``, without a trailing ``: ``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        text = str(node.values[0].value)
    else:
        return None
    return text.rstrip(": ").strip() or None


def strings_in(node: ast.expr) -> Iterator[str]:
    """The texts an expression can evaluate to: itself, or the branches of ``a if c else b`` / ``a or b``
    (not strings used inside it, such as a call's arguments)."""
    if isinstance(node, ast.IfExp):
        yield from strings_in(node.body)
        yield from strings_in(node.orelse)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from strings_in(value)
    elif (head := literal_head(node)) is not None:
        yield head


def attempt_outcomes() -> set[str]:
    """The constant outcomes of every ``count_attempt(job, outcome)`` call (the pull's are its Outcome)."""
    out = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "count_attempt":
                out.update(strings_in(node.args[1]))
    return out


def readiness_problems() -> set[str]:
    """What /readyz lists: ``storage: not open``, …"""
    nodes = ast.walk(parsed("agent/routes/probes.py"))
    heads = {literal_head(n) for n in nodes if isinstance(n, ast.expr)}
    return {s for s in heads if s and s.startswith(("storage:", "bundle:"))}


def storage_states() -> set[str]:
    states = set(typing.get_args(typing.get_type_hints(Health)["state"]))
    for node in ast.walk(parsed("agent/storage_health.py")):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if key is not None and literal_head(key) == "state":
                    states.update(strings_in(value))
    return states


def last_error_forms() -> set[str]:
    """The literal head of each message the sync code puts in ``lastError`` or a paused sec's reason."""
    out = set()
    for path in (PACKAGE / "sync").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign) and any(
                (isinstance(t, ast.Name) and t.id == "error") or getattr(t, "attr", "") == "last_error"
                for t in node.targets
            ):
                out.update(strings_in(node.value))
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("pause_sec", "failure"):
                for arg in node.args[1:]:
                    out.update(strings_in(arg))
    return {s for s in out if len(s) > 5}


NAMES: list[tuple[str, str]] = sorted(
    {
        *(("verdict level", v) for v in typing.get_args(Level)),
        *(("sync state", s) for s in typing.get_args(State)),
        *(("storage state", s) for s in storage_states()),
        *(("pull outcome", o) for o in typing.get_args(PullOutcome)),
        *(("watch outcome", o) for o in typing.get_args(WatchOutcome)),
        *(("sync run outcome", o) for o in attempt_outcomes() | set(typing.get_args(PushOutcome))),
        *(("readiness problem", p) for p in readiness_problems()),
        *(("lastError", e) for e in last_error_forms()),
    }
)


def test_the_code_reports_what_the_runbook_is_about() -> None:
    """The extraction finds what is known to exist, so an empty list cannot pass by accident."""
    for name in (
        ("sync state", "offline"),
        ("storage state", "unavailable"),
        ("readiness problem", "storage: not open"),
        ("readiness problem", "bundle: none loaded"),
        ("sync run outcome", "skipped"),
        ("lastError", "upstream unreachable"),
        ("lastError", "the upstream answered"),
        ("verdict level", "attention"),
    ):
        assert name in NAMES, NAMES


@pytest.mark.parametrize(("kind", "value"), NAMES, ids=[f"{k}: {v}" for k, v in NAMES])
def test_the_runbook_names_it(kind: str, value: str) -> None:
    # Names stand in backticks; a message is quoted from its start (``upstream unreachable: …``).
    wanted = f"`{value}" if kind == "lastError" else f"`{value}`"
    assert wanted in RUNBOOK, f"docs/runbook.md: say what the {kind} {wanted} means and what to do"
