"""Legacy Keras ``.h5`` models as a ``convert`` source: ``model.save("m.h5")`` of Keras 3, and of
Keras 2 (``tf_keras``), whose weight names differ (``model_weights/<layer>/<layer>/<cell>/
kernel:0``, no model scope). Each file is saved by the real library; the converted file, loaded
by PyTorch or Keras 3, computes what the source model computes (1e-5).

The Keras 2 cases need ``tf_keras`` (``pip install --no-deps tf-keras==2.21.0`` beside
tensorflow-cpu: its own requirement would pull the full ``tensorflow``); they skip without it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rnncalc.cli import cli

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

#: Layers of each source model (a Sequential on input (batch, 5, 3)), by the library's layers
#: module; with the torch module computing the same stack.
STACKS: dict[str, tuple[Callable[[Any], list[Any]], Callable[[], Any]]] = {
    "lstm": (
        lambda layers: [layers.LSTM(4, return_sequences=True)],
        lambda: torch.nn.LSTM(3, 4, batch_first=True),
    ),
    "two bidirectional lstm": (
        lambda layers: [layers.Bidirectional(layers.LSTM(4, return_sequences=True)) for _ in range(2)],
        lambda: torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True),
    ),
    "two gru": (
        lambda layers: [layers.GRU(4, return_sequences=True) for _ in range(2)],
        lambda: torch.nn.GRU(3, 4, num_layers=2, batch_first=True),
    ),
}


def _library(name: str) -> Any:
    if name == "tf_keras" and importlib.util.find_spec("tf_keras") is None:
        pytest.skip("tf_keras is not installed: pip install --no-deps tf-keras==2.21.0")
    return importlib.import_module(name)


def _saved(library: Any, stack: str, path: Path) -> Any:
    """The source model, with random weights (biases too), saved as legacy .h5 at ``path``."""
    layers, _ = STACKS[stack]
    model = library.Sequential([library.Input((5, 3)), *layers(library.layers)])
    rng = np.random.default_rng(0)
    model.set_weights([0.5 * rng.standard_normal(w.shape).astype("float32") for w in model.get_weights()])
    model.save(path)
    return model


@pytest.mark.parametrize("library_name", ["keras", "tf_keras"])
@pytest.mark.parametrize("stack", list(STACKS))
def test_a_legacy_h5_converts_and_computes_what_the_source_model_computes(
    tmp_path: Path, library_name: str, stack: str
) -> None:
    library = _library(library_name)
    source = _saved(library, stack, tmp_path / "m.h5")
    x = np.random.default_rng(1).standard_normal((2, 5, 3)).astype("float32")
    expected = np.asarray(source(x, training=False))

    result = CliRunner().invoke(cli, ["convert", str(tmp_path / "m.h5"), "-o", str(tmp_path / "o.pt")])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].endswith(": ok")
    module = STACKS[stack][1]()
    module.load_state_dict(torch.load(tmp_path / "o.pt", weights_only=True), strict=True)
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x))[0].numpy(), expected, atol=1e-5)

    result = CliRunner().invoke(cli, ["convert", str(tmp_path / "m.h5"), "-o", str(tmp_path / "o.keras")])
    assert result.exit_code == 0, result.output
    written = keras.models.load_model(tmp_path / "o.keras")
    np.testing.assert_allclose(np.asarray(written(x)), expected, atol=1e-5)


@pytest.mark.parametrize("library_name", ["keras", "tf_keras"])
def test_a_legacy_h5_with_a_layer_convert_would_leave_out_is_refused_by_name(
    tmp_path: Path, library_name: str
) -> None:
    library = _library(library_name)
    model = library.Sequential(
        [
            library.Input((5, 3)),
            library.layers.LSTM(4, return_sequences=True),
            library.layers.Lambda(lambda x: x * 2),
        ]
    )
    model.save(tmp_path / "m.h5")
    result = CliRunner().invoke(cli, ["convert", str(tmp_path / "m.h5"), "-o", str(tmp_path / "o.pt")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "(Lambda)" in lines[0], result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.h5"]
