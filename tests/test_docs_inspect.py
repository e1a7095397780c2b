"""docs/inspect.md shows real output: each ```console block's ``$ rnncalc inspect FILE`` prints
what follows it, for files built here the way the page says they were built."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

DOC = Path(__file__).parent.parent / "docs" / "inspect.md"
BLOCK = re.compile(r"```console\n\$ rnncalc (.*?)\n(.*?)```", re.S)

torch = pytest.importorskip("torch")
keras = pytest.importorskip("rnncalc.frameworks.keras").keras


def _make_tagger_pt(path: Path) -> None:
    nn = torch.nn
    tagger = nn.ModuleDict(
        {
            "embed": nn.Embedding(10000, 128),
            "encoder": nn.LSTM(128, 256, num_layers=2, bidirectional=True, batch_first=True),
            "head": nn.Linear(512, 17),
        }
    )
    torch.save(tagger.state_dict(), path)


def _make_tagger_keras(path: Path) -> None:
    layers = keras.layers
    inputs = keras.Input((None,), dtype="int32")
    x = layers.Embedding(10000, 128, mask_zero=True, name="embed")(inputs)
    x = layers.SpatialDropout1D(0.2, name="drop_in")(x)  # named: the chain shows the names
    x = layers.Bidirectional(layers.LSTM(256, return_sequences=True), name="encoder")(x)
    x = layers.LayerNormalization(name="norm")(x)
    x = layers.GRU(128, reset_after=False, name="decoder")(x)
    x = layers.Dropout(0.3, name="drop_out")(x)
    model = keras.Model(inputs, layers.Dense(17, name="head")(x))
    assert model.count_params() == 2_317_841  # the figure the page quotes
    model.save(path)


def test_docs_inspect_blocks_are_the_commands_real_output(
    tmp_path: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _make_tagger_pt(tmp_path / "tagger.pt")
    _make_tagger_keras(tmp_path / "tagger.keras")
    config = run_cli("inspect", "tagger.pt", "-f", "yaml")  # the page's `> tagger.yaml`
    assert config.exit_code == 0, config.stderr
    (tmp_path / "tagger.yaml").write_text(config.stdout)
    blocks = BLOCK.findall(DOC.read_text())
    assert len(blocks) == 3
    for command, shown in blocks:
        result = run_cli(*shlex.split(command))
        assert result.exit_code == 0, result.stderr
        assert result.stdout == shown, command
