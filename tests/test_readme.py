"""README examples are real: its console transcripts and doctests are rerun here."""

from __future__ import annotations

import doctest
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"


def console_blocks() -> list[tuple[str, str, int]]:
    """(command, expected terminal output, exit status) for each ```console block of plain rnncalc.

    A block is ``$ rnncalc ...`` (no pipe), the lines the terminal shows (stdout and stderr as
    written), and optionally ``$ echo $?`` with the exit status; without it the status is 0.
    """
    found = re.findall(r"```console\n\$ (rnncalc [^\n|<>]*)\n(.*?)```", README.read_text(), re.S)
    blocks = []
    for command, body in found:
        output, status = body, 0
        match = re.search(r"^\$ echo \$\?\n(\d+)\n\Z", body, re.M)
        if match:
            output, status = body[: match.start()], int(match.group(1))
        blocks.append((command, output, status))
    return blocks


def test_readme_console_transcripts_match_real_output(
    run_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # transcripts name files such as examples/sentiment.yaml
    blocks = console_blocks()
    assert blocks, "README has no console transcript"
    for command, expected, status in blocks:
        result = run_cli(*shlex.split(command)[1:])
        assert result.output == expected, f"README transcript of {command!r} is stale"
        assert result.exit_code == status, f"README gives the wrong exit status for {command!r}"


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


#: A max |diff| in a verify table: float32 rounding, which depends on the CPU's kernels.
ROUNDING = re.compile(r"\b\d\.\d\de-\d\d\b")


def verify_blocks() -> list[tuple[str, str]]:
    """(command, shown output) of each README ```text transcript of ``rnncalc verify``."""
    return re.findall(r"```text\n\$ (rnncalc verify [^\n|<>]*)\n(.*?)```", README.read_text(), re.S)


def test_readme_has_a_verify_transcript() -> None:
    assert verify_blocks()


@pytest.mark.parametrize(("command", "shown"), verify_blocks(), ids=[c for c, _ in verify_blocks()])
def test_readme_verify_transcripts_match_a_real_run_up_to_rounding(
    command: str, shown: str, run_cli: Callable[..., Any]
) -> None:
    """Everything but the rounding-level differences is compared exactly; those must be of the
    same order as the README's (within 10×) and, as the run says, within the tolerance."""
    for module in ("torch", "keras", "flax", "onnxruntime"):  # the transcript verifies all four
        pytest.importorskip(module)
    result = run_cli(*shlex.split(command)[1:])
    assert result.exit_code == 0, result.output
    assert ROUNDING.sub("<diff>", result.output) == ROUNDING.sub("<diff>", shown)
    real = [float(x) for x in ROUNDING.findall(result.output)]
    documented = [float(x) for x in ROUNDING.findall(shown)]
    for got, doc in zip(real, documented, strict=True):
        assert got <= 10 * doc and doc <= 10 * max(got, 1e-12), (got, doc)
