"""Every option of every ``edge-agent`` command is documented: on the command's line of the README's
command list, or (``--config``, ``--db``, ``--json``, shared by many) in the paragraph below it; the
reference upstream's options in docs/upstream-sim.md."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from edge_agent.cli import main

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SHARED = ("--config", "--db", "--json")


def leaves(group: click.Group, prefix: str = "edge-agent") -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from leaves(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}", command


def long_options(command: click.Command) -> list[str]:
    return [o for p in command.params if isinstance(p, click.Option) for o in p.opts if o.startswith("--")]


COMMANDS = dict(leaves(main))


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_option_is_documented(path: str) -> None:
    options = long_options(COMMANDS[path])
    if path == "edge-agent upstream-sim":
        page = (ROOT / "docs" / "upstream-sim.md").read_text()
        missing = [o for o in options if f"`{o}" not in page]
        assert not missing, f"docs/upstream-sim.md: add {missing} to the options table"
        return
    lines = [line for line in README.splitlines() if line == path or line.startswith(f"{path} ")]
    assert lines, f"README.md: no line for `{path}` in the command list"
    missing = [o for o in options if o not in SHARED and not any(o in line for line in lines)]
    assert not missing, f"README.md: add {missing} to the `{path}` line"


def test_the_shared_options_are_explained() -> None:
    paragraph = README.split("edge-agent upstream-sim --data DIR", 1)[1]
    for option in SHARED:
        assert f"`{option}" in paragraph, f"README.md: say which commands take {option}"
