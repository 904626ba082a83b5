"""Docs are tests: every ``edge-agent`` command is in the README's command list, and every sync, queue and
bundle command is in docs/sync.md."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from edge_agent.cli import main

ROOT = Path(__file__).resolve().parent.parent


def command_paths(group: click.Group, prefix: str = "edge-agent") -> list[str]:
    paths: list[str] = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # the lazily imported groups too
        command = group.get_command(ctx, name)
        assert command is not None, name
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, path))
        else:
            paths.append(path)
    return paths


ALL = command_paths(main)


def test_the_command_tree_has_the_operator_commands() -> None:
    for path in ("edge-agent sync", "edge-agent queue export", "edge-agent bundle load", "edge-agent serve"):
        assert path in ALL


@pytest.mark.parametrize("path", ALL)
def test_every_command_is_in_the_readme(path: str) -> None:
    assert path in (ROOT / "README.md").read_text(), f"README.md: add `{path}` to the command list"


@pytest.mark.parametrize("path", [p for p in ALL if p.split()[1] in ("sync", "queue", "bundle")])
def test_every_sync_command_is_in_the_sync_docs(path: str) -> None:
    assert path in (ROOT / "docs" / "sync.md").read_text(), f"docs/sync.md: document `{path}`"


def test_the_readme_keeps_its_two_quick_start_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert "scripts/serve    #" in text and "scripts/test     #" in text
