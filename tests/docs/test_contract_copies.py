"""The contract copies in docs/ are the contracts: verbatim from their first heading on. The contracts live
beside the checkout (``../shared/spec``) on the team's machines and in CI; elsewhere there is nothing to
compare with and the test is skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT.parent / "shared" / "spec"
COPIES = {"upstream-contract.md": "upstream.md", "bundle-format.md": "bundle.md"}


def from_heading(text: str) -> str:
    start = next(i for i, line in enumerate(text.splitlines(keepends=True)) if line.startswith("# "))
    return "".join(text.splitlines(keepends=True)[start:])


@pytest.mark.parametrize("copy", sorted(COPIES))
def test_the_copy_names_its_contract(copy: str) -> None:
    head = (ROOT / "docs" / copy).read_text().split("\n# ", 1)[0]
    assert f"`spec/{COPIES[copy]}`" in head and "edge-agent 0.1.0" in head


@pytest.mark.parametrize("copy", sorted(COPIES))
def test_the_copy_is_the_contract(copy: str) -> None:
    contract = SPEC / COPIES[copy]
    if not contract.is_file():
        pytest.skip(f"no contract beside the checkout ({contract})")
    assert from_heading((ROOT / "docs" / copy).read_text()) == contract.read_text(), (
        f"docs/{copy} differs from {contract}: copy the contract again (and update the note's date)"
    )
