"""``rnncalc convert`` of a Keras model moves its recurrent stack and nothing else: a layer it
would leave out (a ``Lambda``, a custom layer, ``Attention``, ``Conv1D``, an operation node) is
refused by name and class before anything is written; layers that are the identity at inference
(dropout, noise) are left out, and the written model computes what the source computes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rnncalc.cli import cli

np = pytest.importorskip("numpy")
keras = pytest.importorskip("keras")


@keras.saving.register_keras_serializable(package="rnncalc_tests")
class Doubling(keras.layers.Layer):  # type: ignore[misc,name-defined]
    """A custom layer without weights: nothing in the weight file shows it."""

    def call(self, x: Any) -> Any:
        return x * 2


def _sequential(*layers: Any) -> Any:
    return keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4, return_sequences=True), *layers])


def _attention() -> Any:
    inputs = keras.Input((5, 3))
    sequence = keras.layers.LSTM(4, return_sequences=True)(inputs)
    return keras.Model(inputs, keras.layers.Attention(name="attend")([sequence, sequence]))


def _operation() -> Any:
    inputs = keras.Input((5, 3))
    return keras.Model(inputs, keras.ops.multiply(keras.layers.LSTM(4, return_sequences=True)(inputs), 2.0))


REFUSED: dict[str, tuple[Callable[[], Any], str]] = {
    "lambda": (lambda: _sequential(keras.layers.Lambda(lambda x: x * 2, name="times_two")),
               "'times_two' (Lambda)"),
    "custom layer": (lambda: _sequential(Doubling(name="doubling")), "'doubling' (Doubling)"),
    "attention": (_attention, "'attend' (Attention)"),
    "conv1d": (lambda: _sequential(keras.layers.Conv1D(2, 3, name="conv")), "'conv' (Conv1D)"),
    "activation": (lambda: _sequential(keras.layers.Activation("relu", name="relu")), "'relu' (Activation)"),
    "masking": (lambda: keras.Sequential([keras.Input((5, 3)), keras.layers.Masking(name="mask"),
                                          keras.layers.LSTM(4, return_sequences=True)]), "'mask' (Masking)"),
    "operation": (_operation, "(Multiply)"),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(REFUSED))
def test_a_layer_convert_would_leave_out_is_refused_by_name_before_anything_is_written(
    tmp_path: Path, kind: str
) -> None:
    build, named = REFUSED[kind]
    build().save(tmp_path / "m.keras")
    for target in ("o.safetensors", "o.keras", "o.onnx"):
        result = CliRunner().invoke(cli, ["convert", str(tmp_path / "m.keras"), "-o", str(tmp_path / target)])
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and named in lines[0] and "leave out" in lines[0], result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]


def test_dropout_and_noise_are_left_out_and_the_written_model_computes_what_the_source_does(
    tmp_path: Path,
) -> None:
    source = _sequential(keras.layers.Dropout(0.5), keras.layers.GaussianNoise(1.0))
    source.layers[0].set_weights(
        [
            np.random.default_rng(i).standard_normal(w.shape).astype("float32")
            for i, w in enumerate(source.weights)
        ]
    )
    source.save(tmp_path / "m.keras")
    result = CliRunner().invoke(cli, ["convert", str(tmp_path / "m.keras"), "-o", str(tmp_path / "o.keras")])
    assert result.exit_code == 0, result.output
    x = np.random.default_rng(9).standard_normal((2, 5, 3)).astype("float32")
    written = keras.models.load_model(tmp_path / "o.keras")
    np.testing.assert_allclose(np.asarray(written(x)), np.asarray(source(x, training=False)), atol=1e-5)
