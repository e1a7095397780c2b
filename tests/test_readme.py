"""README examples are real: its console transcripts and doctests are rerun here."""

from __future__ import annotations

import doctest
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

README = Path(__file__).parents[1] / "README.md"


def console_blocks() -> list[tuple[str, str]]:
    """(command, expected output) for each ```console block whose command is plain rnncalc."""
    blocks = re.findall(r"```console\n\$ (rnncalc [^\n|]*)\n(.*?)```", README.read_text(), re.S)
    return [(command, output) for command, output in blocks]


def test_readme_console_transcripts_match_real_output(run_cli: Callable[..., Any]) -> None:
    blocks = console_blocks()
    assert blocks, "README has no console transcript"
    for command, expected in blocks:
        result = run_cli(*shlex.split(command)[1:])
        assert result.exit_code == 0
        assert result.stdout == expected, f"README transcript of {command!r} is stale"


def test_readme_python_examples_run() -> None:
    parser = doctest.DocTestParser()
    test = parser.get_doctest(README.read_text(), {}, "README.md", str(README), 0)
    assert test.examples, "README has no >>> example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0


def test_ci_runs_the_readme_test_command() -> None:
    readme = README.read_text()
    block = readme.split("<!-- test-command -->")[1].split("<!-- /test-command -->")[0]
    command = next(line for line in block.splitlines() if line.startswith("pip install"))
    ci = (README.parent / ".ci" / "run").read_text()
    assert "test-command" in ci and "eval" in ci
    assert command.endswith("&& pytest")
