"""Every example in every command's ``--help`` runs and succeeds: exit 0, nothing but progress
on stderr. The examples are read from the help texts themselves, and run in-process from a
directory that holds the repository's ``examples/`` and the weight files they name, each
written by its framework."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnncalc.cli import LAZY_COMMANDS, cli

REPO = Path(__file__).resolve().parent.parent


def help_examples() -> list[tuple[str, list[str]]]:
    """``(command, argv)`` of each ``rnncalc ...`` line under ``Examples:`` in a help text, cut
    before a shell redirection or pipe."""
    examples = []
    for name in LAZY_COMMANDS:
        text = CliRunner().invoke(cli, [name, "--help"]).stdout
        lines = text.split("Examples:", 1)[1].split("\n\n", 1)[0].splitlines()
        for line in lines:
            words = shlex.split(line, comments=True)
            if words[:1] == ["rnncalc"]:
                cut = next((k for k, word in enumerate(words) if word in (">", "|")), len(words))
                examples.append((name, words[2:cut]))
    return examples


EXAMPLES = help_examples()


def test_every_command_shows_examples() -> None:
    assert {name for name, _ in EXAMPLES} == set(LAZY_COMMANDS)


def write_weights(path: Path) -> None:
    """The weight file an example names: a GRU when its name says so, else an LSTM (input 3,
    hidden 4), saved by PyTorch, safetensors, Keras or (from PyTorch's) rnncalc's ONNX writer."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.GRU(3, 4) if path.name.startswith("gru") else torch.nn.LSTM(3, 4)
    if path.suffix in (".pt", ".onnx"):
        torch.save(module.state_dict(), path.with_suffix(".pt"))
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(module.state_dict(), str(path))
    if path.suffix == ".onnx":
        result = CliRunner().invoke(cli, ["convert", str(path.with_suffix(".pt")), "-o", str(path)])
        assert result.exit_code == 0, result.output
        path.with_suffix(".pt").unlink()
    if path.suffix == ".keras":
        keras = pytest.importorskip("keras")
        layer = keras.layers.GRU(4) if path.name.startswith("gru") else keras.layers.LSTM(4)
        keras.Sequential([keras.Input((None, 3)), layer]).save(path)


@pytest.mark.parametrize(("name", "args"), EXAMPLES, ids=[" ".join([name, *args]) for name, args in EXAMPLES])
def test_each_help_example_succeeds(
    name: str, args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "examples").symlink_to(REPO / "examples")
    monkeypatch.chdir(tmp_path)
    written = {args[k + 1] for k, word in enumerate(args[:-1]) if word in ("-o", "--output")}
    for word in args:
        if Path(word).suffix in (".pt", ".safetensors", ".keras", ".onnx") and word not in written:
            write_weights(tmp_path / word)
    result = CliRunner().invoke(cli, [name, *args], prog_name="rnncalc")
    assert result.exit_code == 0, result.output
    assert result.stdout
    assert all(Path(path).stat().st_size > 0 for path in written)
