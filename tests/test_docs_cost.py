"""Every example in docs/cost.md prints exactly what the docs show."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnncalc.cli import cli

DOC = Path(__file__).resolve().parent.parent / "docs" / "cost.md"
EXAMPLES = re.findall(
    r"```\n\$ rnncalc ([^\n]*)\n```\n```\n(.*?)\n```", DOC.read_text(encoding="utf-8"), re.S
)


def test_the_cost_docs_have_examples() -> None:
    assert len(EXAMPLES) >= 5


def test_every_command_block_has_its_output_block() -> None:
    """An example without output would be skipped by the pattern above and never checked."""
    text = DOC.read_text(encoding="utf-8")
    assert text.count("```\n$ rnncalc ") == len(EXAMPLES)


@pytest.mark.parametrize(("command", "expected"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_documented_output_matches_the_command(
    command: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(DOC.parent.parent)  # examples name files such as examples/sentiment.yaml
    result = CliRunner().invoke(cli, shlex.split(command))
    assert result.exit_code == 0
    assert result.stdout.rstrip("\n") == expected
