"""Shell completions: committed scripts are what click generates, and choices complete."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.shell_completion import ShellComplete

from rnncalc.cli import cli
from rnncalc.cli.completions import SHELLS, script, stale

COMPLETIONS = Path(__file__).resolve().parent.parent / "completions"


def _complete(args: list[str], incomplete: str) -> list[str]:
    completer = ShellComplete(cli, {}, "rnncalc", "_RNNCALC_COMPLETE")
    return [item.value for item in completer.get_completions(args, incomplete)]


def test_committed_completion_scripts_are_what_click_generates_now() -> None:
    assert stale(COMPLETIONS) == [], "run: python -m rnncalc.cli.completions"


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_each_script_completes_the_rnncalc_command(shell: str) -> None:
    assert "_RNNCALC_COMPLETE" in script(shell)
    assert "rnncalc" in (COMPLETIONS / SHELLS[shell]).read_text()


def test_regenerating_into_an_empty_directory_then_checking_finds_nothing_stale(tmp_path: Path) -> None:
    from rnncalc.cli.completions import main

    assert main(["--check", str(tmp_path)]) == 1
    assert main([str(tmp_path)]) == 0
    assert main(["--check", str(tmp_path)]) == 0


def test_commands_complete() -> None:
    assert "summary" in _complete([], "su")


@pytest.mark.parametrize(
    ("args", "incomplete", "expected"),
    [
        (["summary", "--cell"], "", ["rnn", "lstm", "gru"]),
        (["summary", "--cell"], "l", ["lstm"]),
        (["summary", "--format"], "", ["table", "json", "markdown"]),
        (["summary", "--merge-mode"], "", ["concat", "sum", "mul", "ave", "none"]),
        (["summary", "--nonlinearity"], "", ["tanh", "relu"]),
    ],
)
def test_choices_complete(args: list[str], incomplete: str, expected: list[str]) -> None:
    assert _complete(args, incomplete) == expected


@pytest.mark.parametrize(
    ("args", "incomplete", "expected"),
    [
        (["check", "--format"], "", ["table", "json", "lines", "jsonl", "github"]),
        (["check", "--format"], "js", ["json", "jsonl"]),
        (["check", "--against"], "", ["torch", "keras", "flax", "onnx", "all", "none"]),
        (["check", "--against"], "torch,", ["torch,keras", "torch,flax", "torch,onnx"]),
        (["check", "--cell"], "g", ["gru"]),
    ],
)
def test_check_choices_and_frameworks_complete(args: list[str], incomplete: str, expected: list[str]) -> None:
    assert _complete(args, incomplete) == expected
