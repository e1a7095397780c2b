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
    """The file an example names: a GRU when its name says so, a seq2seq checkpoint (an
    embedding, an encoder and a decoder) or a tagger (an embedding, an LSTM, a dense head), else
    an LSTM (input 3, hidden 4), saved by PyTorch, safetensors, Keras or (from PyTorch's)
    rnncalc's ONNX writer; a ``.yaml`` is the tagger's config."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    nn = torch.nn
    if path.suffix == ".yaml":
        path.write_text(
            "embedding: {vocab_size: 20, dim: 3}\nlayers:\n  - {cell: lstm, hidden_size: 4}\n"
            "  - {kind: dense, units: 2, activation: softmax, per_step: true}\n"
        )
        return
    module = {
        "gru": lambda: nn.GRU(3, 4),
        "seq2seq": lambda: nn.ModuleDict(
            {"embed": nn.Embedding(20, 3), "encoder": nn.GRU(3, 4), "decoder": nn.GRU(3, 4)}
        ),
        "tagger": lambda: nn.ModuleDict(
            {"embed": nn.Embedding(20, 3), "rnn": nn.LSTM(3, 4), "head": nn.Linear(4, 2)}
        ),
    }.get(path.stem, lambda: nn.LSTM(3, 4))()
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
        known = (".pt", ".safetensors", ".keras", ".onnx", ".yaml")
        if Path(word).suffix in known and word not in written and not (tmp_path / word).exists():
            write_weights(tmp_path / word)
    result = CliRunner().invoke(cli, [name, *args], prog_name="rnncalc")
    assert result.exit_code == 0, result.output
    assert result.stdout
    assert all(Path(path).stat().st_size > 0 for path in written)
