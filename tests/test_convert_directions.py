"""``rnncalc convert`` in every supported direction, proved with the real frameworks.

Source files are made by the frameworks themselves (``torch.save`` and ``safetensors`` of a
module's state dict, ``model.save`` of a Keras model with random weights, ``torch.onnx.export``,
``flax.serialization`` of an NNX model's state);
each converted file is loaded by its own framework (``load_state_dict(strict=True)``,
``keras.models.load_model``, onnxruntime, ``nnx.update`` of the restored Flax state) and run on
the input the source model ran on; outputs agree within float32 rounding.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")
nnx = pytest.importorskip("flax.nnx")
safetensors_torch = pytest.importorskip("safetensors.torch")

from rnncalc.convert import convert  # noqa: E402
from rnncalc.core.errors import ConversionError  # noqa: E402
from rnncalc.core.spec import Cell, MergeMode, Nonlinearity, Spec  # noqa: E402

#: float32 rounding over a few steps of a small stack.
ATOL = 1e-5
BATCH, STEPS = 2, 5

LSTM_BI_2 = Spec(cell=Cell.LSTM, input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
TORCH_CLASSES = {Cell.RNN: "RNN", Cell.LSTM: "LSTM", Cell.GRU: "GRU"}
KERAS_CLASSES = {Cell.RNN: "SimpleRNN", Cell.LSTM: "LSTM", Cell.GRU: "GRU"}


def _input(spec: Spec) -> Any:
    assert spec.input_size is not None
    return np.random.default_rng(7).standard_normal((BATCH, STEPS, spec.input_size)).astype(np.float32)


# --- Sources, made by the frameworks ------------------------------------------------------------


def torch_module(spec: Spec, seed: int = 0) -> Any:
    """``nn.LSTM``/``GRU``/``RNN`` (batch first) with PyTorch's random initialisation."""
    torch.manual_seed(seed)
    kwargs: dict[str, Any] = {"num_layers": spec.num_layers, "bidirectional": spec.bidirectional}
    if spec.cell is Cell.RNN:
        kwargs["nonlinearity"] = spec.nonlinearity.value
    return getattr(torch.nn, TORCH_CLASSES[spec.cell])(
        spec.input_size, spec.hidden_size, bias=spec.bias, batch_first=True, **kwargs
    )


def run_torch(module: Any, x: Any) -> Any:
    with torch.no_grad():
        return module(torch.from_numpy(x))[0].numpy()


def make_torch_pt(spec: Spec, directory: Path) -> tuple[Path, Any]:
    module = torch_module(spec)
    path = directory / "source.pt"
    torch.save(module.state_dict(), path)
    return path, run_torch(module, _input(spec))


def make_torch_safetensors(spec: Spec, directory: Path) -> tuple[Path, Any]:
    module = torch_module(spec)
    path = directory / "source.safetensors"
    safetensors_torch.save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    return path, run_torch(module, _input(spec))


def keras_model(spec: Spec, seed: int = 0) -> Any:
    """A functional Keras model of the spec's layers (all returning sequences), every weight
    drawn at random so that biases are not Keras's zeros."""
    inputs = keras.Input((None, spec.input_size))
    x = inputs
    for _ in range(spec.num_layers):
        kwargs: dict[str, Any] = {"return_sequences": True, "use_bias": spec.bias}
        if spec.cell is Cell.GRU:
            kwargs["reset_after"] = spec.reset_after
        if spec.cell is Cell.RNN:
            kwargs["activation"] = spec.nonlinearity.value
        layer = getattr(keras.layers, KERAS_CLASSES[spec.cell])(spec.hidden_size, **kwargs)
        if spec.bidirectional:
            x = keras.layers.Bidirectional(layer, merge_mode=spec.merge_mode.value)(x)
        else:
            x = layer(x)
    model = keras.Model(inputs, x)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def make_keras(spec: Spec, directory: Path) -> tuple[Path, Any]:
    model = keras_model(spec)
    path = directory / "source.keras"
    model.save(path)
    return path, np.asarray(model(_input(spec)))


def make_onnx(spec: Spec, directory: Path) -> tuple[Path, Any]:
    """``torch.onnx.export`` (TorchScript exporter) of the PyTorch module."""
    module = torch_module(spec)
    x = _input(spec)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.from_numpy(x),), buffer, dynamo=False)
    path = directory / "source.onnx"
    path.write_bytes(buffer.getvalue())
    return path, run_torch(module, x)


def make_flax(spec: Spec, directory: Path) -> tuple[Path, Any]:
    """The Flax NNX model ``rnncalc code --framework flax`` builds, every parameter drawn at
    random (nnx.Linear starts its biases at zero), saved as msgpack of its pure state dict."""
    from flax import serialization

    from rnncalc.frameworks.flax import CONVENTION as FLAX

    model = FLAX.build(spec, seed=1)
    state = nnx.state(model, nnx.Param)
    rng = np.random.default_rng(2)
    for _, variable in nnx.to_flat_state(state):
        variable.set_value(rng.uniform(-0.5, 0.5, variable.shape).astype(np.float32))
    nnx.update(model, state)
    path = directory / "source.msgpack"
    path.write_bytes(serialization.msgpack_serialize(nnx.to_pure_dict(state)))
    return path, np.asarray(model(_input(spec)))


SOURCES: dict[str, Callable[[Spec, Path], tuple[Path, Any]]] = {
    "pt": make_torch_pt,
    "safetensors": make_torch_safetensors,
    "keras": make_keras,
    "onnx": make_onnx,
    "flax": make_flax,
}


# --- Targets, loaded by the frameworks ----------------------------------------------------------


def load_torch_pt(spec: Spec, path: Path, x: Any) -> Any:
    module = torch_module(spec, seed=99)
    module.load_state_dict(torch.load(path, weights_only=True), strict=True)
    return run_torch(module, x)


def load_torch_safetensors(spec: Spec, path: Path, x: Any) -> Any:
    module = torch_module(spec, seed=99)
    module.load_state_dict(safetensors_torch.load_file(str(path)), strict=True)
    return run_torch(module, x)


def load_keras(spec: Spec, path: Path, x: Any) -> Any:
    return np.asarray(keras.models.load_model(path)(x))


def load_onnx(spec: Spec, path: Path, x: Any) -> Any:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y, *_) = session.run(None, {session.get_inputs()[0].name: x.transpose(1, 0, 2)})
    # Y is [time, directions, batch, hidden]; PyTorch concatenates the directions.
    return y.transpose(2, 0, 1, 3).reshape(BATCH, STEPS, -1)


def load_flax(spec: Spec, path: Path, x: Any) -> Any:
    """The module ``rnncalc code --framework flax`` builds, restored from the msgpack state."""
    from flax import serialization

    from rnncalc.frameworks.flax import CONVENTION as FLAX

    model = FLAX.build(spec, seed=99)
    state = nnx.state(model, nnx.Param)
    nnx.replace_by_pure_dict(state, serialization.msgpack_restore(path.read_bytes()))
    nnx.update(model, state)
    return np.asarray(model(x))


TARGETS: dict[str, tuple[str, Callable[[Spec, Path, Any], Any]]] = {
    "pt": (".pt", load_torch_pt),
    "safetensors": (".safetensors", load_torch_safetensors),
    "keras": (".keras", load_keras),
    "onnx": (".onnx", load_onnx),
    "flax": (".msgpack", load_flax),
}


def assert_converts(spec: Spec, source: str, target: str, directory: Path) -> None:
    path, expected = SOURCES[source](spec, directory)
    suffix, load = TARGETS[target]
    destination = directory / f"converted{suffix}"
    done = convert(str(path), str(destination))
    assert done.plan.spec == spec
    got = load(spec, destination, _input(spec))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("source", SOURCES)
def test_a_bidirectional_two_layer_lstm_converts_between_every_pair_of_formats(
    source: str, target: str, tmp_path: Path
) -> None:
    assert_converts(LSTM_BI_2, source, target, tmp_path)


GRU = Spec(cell=Cell.GRU, input_size=3, hidden_size=5, num_layers=2)
RNN_RELU = Spec(cell=Cell.RNN, input_size=4, hidden_size=3, nonlinearity=Nonlinearity.RELU)
GRU_NO_RESET_AFTER = Spec(cell=Cell.GRU, input_size=3, hidden_size=4, reset_after=False)
GRU_BI_NO_BIAS = Spec(cell=Cell.GRU, input_size=3, hidden_size=4, bidirectional=True, bias=False)
LSTM_BI_AVERAGED = Spec(
    cell=Cell.LSTM, input_size=3, hidden_size=4, num_layers=2, bidirectional=True, merge_mode=MergeMode.AVE
)


@pytest.mark.parametrize(
    ("spec", "source", "target"),
    [
        (GRU, "pt", "keras"),
        (GRU, "pt", "onnx"),
        (GRU, "keras", "pt"),
        (GRU, "keras", "onnx"),
        (GRU, "onnx", "keras"),
        (GRU_BI_NO_BIAS, "pt", "keras"),
        (GRU_BI_NO_BIAS, "keras", "safetensors"),
        (GRU_NO_RESET_AFTER, "keras", "onnx"),
        (LSTM_BI_AVERAGED, "keras", "flax"),
        (LSTM_BI_AVERAGED, "keras", "keras"),
        (RNN_RELU, "keras", "pt"),
        (RNN_RELU, "keras", "flax"),
        (GRU, "flax", "keras"),
        (GRU, "flax", "safetensors"),
        (RNN_RELU, "onnx", "keras"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_gru_rnn_and_merge_mode_variants_convert_where_the_target_has_an_equivalent(
    spec: Spec, source: str, target: str, tmp_path: Path
) -> None:
    assert_converts(spec, source, target, tmp_path)


def test_a_relu_rnn_state_dict_converts_once_told_its_nonlinearity(tmp_path: Path) -> None:
    path, expected = make_torch_pt(RNN_RELU, tmp_path)
    destination = tmp_path / "relu.keras"
    convert(str(path), str(destination), nonlinearity=Nonlinearity.RELU)
    np.testing.assert_allclose(load_keras(RNN_RELU, destination, _input(RNN_RELU)), expected, atol=ATOL)


def test_a_pytorch_gru_whose_recurrent_candidate_bias_is_zero_converts_to_flax(tmp_path: Path) -> None:
    module = torch_module(GRU)
    with torch.no_grad():
        for layer in range(GRU.num_layers):
            getattr(module, f"bias_hh_l{layer}")[2 * GRU.hidden_size :] = 0.0  # b_hn, block n of r, z, n
    path = tmp_path / "gru.pt"
    torch.save(module.state_dict(), path)
    convert(str(path), str(tmp_path / "gru.msgpack"))
    x = _input(GRU)
    np.testing.assert_allclose(load_flax(GRU, tmp_path / "gru.msgpack", x), run_torch(module, x), atol=ATOL)


def test_a_pytorch_gru_with_a_recurrent_candidate_bias_is_refused_for_flax_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    path, _ = make_torch_pt(GRU, tmp_path)
    with pytest.raises(ConversionError, match="b_hn"):
        convert(str(path), str(tmp_path / "gru.msgpack"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.pt"]


def test_keras_single_bias_becomes_pytorch_bias_ih_with_a_zero_bias_hh(tmp_path: Path) -> None:
    spec = Spec(cell=Cell.LSTM, input_size=3, hidden_size=4)
    path, _ = make_keras(spec, tmp_path)
    convert(str(path), str(tmp_path / "lstm.pt"))
    state = torch.load(tmp_path / "lstm.pt", weights_only=True)
    bias = keras.models.load_model(path).layers[-1].cell.bias.numpy()
    # Keras gates i, f, c, o; PyTorch i, f, g, o: the same order, the candidate renamed.
    np.testing.assert_array_equal(state["bias_ih_l0"].numpy(), bias)
    assert not state["bias_hh_l0"].numpy().any()


def test_pytorch_two_biases_are_summed_into_keras_one(tmp_path: Path) -> None:
    spec = Spec(cell=Cell.LSTM, input_size=3, hidden_size=4)
    module = torch_module(spec)
    path = tmp_path / "lstm.pt"
    torch.save(module.state_dict(), path)
    convert(str(path), str(tmp_path / "lstm.keras"))
    bias = keras.models.load_model(tmp_path / "lstm.keras").layers[-1].cell.bias.numpy()
    expected = (module.bias_ih_l0 + module.bias_hh_l0).detach().numpy()
    np.testing.assert_allclose(bias, expected, atol=1e-7)
