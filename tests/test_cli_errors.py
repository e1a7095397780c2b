"""Bad input: one line on stderr naming the flag, exit status 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import click
import pytest

BASE = ("summary", "-c", "lstm", "-i", "5", "-H", "8")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("summary", "-c", "cnn", "-H", "8"), "'--cell' / '-c': unknown cell 'cnn'; choose rnn, lstm or gru"),
        (("summary", "-c", "rnn", "-H", "0"), "--hidden: must be a positive integer, got 0"),
        (("summary", "-c", "rnn", "-H", "-3"), "--hidden: must be a positive integer, got -3"),
        (("summary", "-c", "rnn", "-H", "eight"), "'--hidden' / '-H': 'eight' is not a valid integer"),
        (("summary", "-c", "rnn", "-H", "2.5"), "'--hidden' / '-H': '2.5' is not a valid integer"),
        (("summary", "-c", "rnn"), "--hidden is required"),
        (("summary", "-H", "8"), "--cell is required"),
        ((*BASE, "-l", "0"), "--layers: must be a positive integer, got 0"),
        ((*BASE, "-i", "0"), "--input: must be a positive integer, got 0"),
        (
            ("summary", "-c", "gru", "-H", "8", "--proj-size", "2"),
            "--proj-size: applies to lstm only, not gru",
        ),
        ((*BASE, "--proj-size", "8"), "--proj-size: must be smaller than hidden_size (8), got 8"),
        ((*BASE, "--proj-size", "-1"), "--proj-size: must be 0 (no projection) or positive, got -1"),
        ((*BASE, "--nonlinearity", "relu"), "--nonlinearity: applies to rnn only, not lstm"),
        ((*BASE, "--no-reset-after"), "--reset-after/--no-reset-after: applies to gru only, not lstm"),
        ((*BASE, "--merge-mode", "sum"), "--merge-mode: applies to bidirectional layers only"),
        (
            (*BASE, "--bi", "-l", "2", "--merge-mode", "none"),
            "--merge-mode: none returns two separate outputs",
        ),
        ((*BASE, "--merge-mode", "max"), "'--merge-mode': 'max' is not one of"),
        ((*BASE, "-b", "0"), "--batch: must be a positive integer, got 0"),
        ((*BASE, "-t", "0"), "--seq-len: must be a positive integer, got 0"),
        ((*BASE, "--unbatched", "-b", "2"), "--unbatched: contradicts batch_size"),
        ((*BASE, "--format", "xml"), "'--format' / '-f': 'xml' is not one of"),
        (("summary", "--bogus"), "No such option '--bogus'"),
        (("nonsense",), "No such command 'nonsense'"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(
    run_cli: Callable[..., Any], args: tuple[str, ...], expected: str
) -> None:
    result = run_cli(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rnncalc: error: ")
    assert expected in lines[0]


def test_bad_input_through_the_console_entry_has_no_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rnncalc", "summary", "-c", "rnn", "-H", "0"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr == "rnncalc: error: --hidden: must be a positive integer, got 0\n"
    assert "Traceback" not in proc.stderr


def test_version_and_help_exit_0(run_cli: Callable[..., Any]) -> None:
    from rnncalc import __version__

    version = run_cli("--version")
    assert version.exit_code == 0 and version.stdout.strip() == f"rnncalc, version {__version__}"
    help_text = run_cli("summary", "--help")
    assert help_text.exit_code == 0 and "--seq-len, --timesteps" in help_text.stdout


def test_every_command_has_help(run_cli: Callable[..., Any]) -> None:
    from rnncalc.cli import cli

    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None and command.help, f"{name} has no help text"
        assert run_cli(name, "--help").exit_code == 0
