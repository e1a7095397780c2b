"""What an ONNX graph records beyond its weights (``recorded_parts``): where a dense head acts
(every step, or the last one after a ``Gather`` of step -1 or on ``Y_h``), its activation, a
``LayerNormalization``'s epsilon. Graphs come from both ``torch.onnx.export`` exporters and from
rnncalc's own writer; ``rnncalc inspect -f json`` shows the chain, ``rnncalc convert`` assumes
nothing the graph records, and the Keras model it writes (``load_model(safe_mode=True)``)
computes what onnxruntime computes on the source graph."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rnncalc.cli import cli

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


class Tagger(torch.nn.Module):  # type: ignore[misc,name-defined]
    """Token ids → embedding → LSTM → layer norm (epsilon 1e-3) → linear head on every step
    or on the last (``x[:, -1]``), with a softmax or none; ``scaled`` multiplies the head's
    output by 2 (no activation rnncalc knows); ``bidirectional`` for a last step that is not
    each direction's final state."""

    def __init__(self, per_step: bool, softmax: bool, scaled: bool = False, bidirectional: bool = False):
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(20, 6)
        self.rnn = torch.nn.LSTM(6, 5, batch_first=True, bidirectional=bidirectional)
        width = 10 if bidirectional else 5
        self.norm = torch.nn.LayerNorm(width, eps=1e-3)
        self.head = torch.nn.Linear(width, 4)
        self.per_step, self.softmax, self.scaled = per_step, softmax, scaled
        with torch.no_grad():  # nonzero biases and norm parameters everywhere
            for parameter in self.parameters():
                parameter.add_(torch.randn_like(parameter) * 0.3)

    def forward(self, ids: Any) -> Any:
        x, _ = self.rnn(self.embed(ids))
        x = self.norm(x)
        y = self.head(x if self.per_step else x[:, -1])
        if self.scaled:
            y = y * 2
        return torch.softmax(y, -1) if self.softmax else y


def ids() -> Any:
    return np.random.default_rng(1).integers(0, 20, size=(3, 7)).astype(np.int64)


def export(module: Any, path: Path, dynamo: bool) -> Path:
    """``module`` as ``torch.onnx.export`` writes it (TorchScript with dynamic batch and time,
    or dynamo)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(module.eval(), (torch.from_numpy(ids()),), path, dynamo=True,
                              input_names=["ids"], verbose=False)  # fmt: skip
        else:
            torch.onnx.export(module.eval(), (torch.from_numpy(ids()),), path, dynamo=False,
                              input_names=["ids"], dynamic_axes={"ids": {0: "n", 1: "t"}})  # fmt: skip
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``exported(dynamo, per_step, softmax)``: the tagger's graph, exported once per module."""
    made: dict[tuple[bool, bool, bool], Path] = {}

    def get(dynamo: bool, per_step: bool, softmax: bool) -> Path:
        key = (dynamo, per_step, softmax)
        if key not in made:
            folder = tmp_path_factory.mktemp("exported")
            made[key] = export(Tagger(per_step, softmax), folder / "tagger.onnx", dynamo)
        return made[key]

    return get


def onnxruntime_output(path: Path) -> Any:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    return session.run(None, {graph_input.name: ids()})[0]


def chain(path: Path) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["inspect", str(path), "-f", "json"])
    assert result.exit_code == 0, result.output
    (found,) = json.loads(result.stdout)["chains"]
    return dict(found)


def head_and_norm(found: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    layers = found["model"]["layers"]
    norm = next(layer for layer in layers if layer.get("kind") == "layer_norm")
    dense = next(layer for layer in layers if layer.get("kind") == "dense")
    return dense, norm


CASES = [
    pytest.param(False, True, True, id="torchscript-per-step-softmax"),
    pytest.param(False, True, False, id="torchscript-per-step-linear"),
    pytest.param(False, False, True, id="torchscript-last-step-softmax"),
    pytest.param(False, False, False, id="torchscript-last-step-linear"),
    pytest.param(True, True, False, id="dynamo-per-step-linear"),
    pytest.param(True, False, True, id="dynamo-last-step-softmax"),
]


@pytest.mark.parametrize(("dynamo", "per_step", "softmax"), CASES)
def test_inspect_reads_where_an_exported_head_acts_its_activation_and_the_norms_epsilon(
    exported: Any, dynamo: bool, per_step: bool, softmax: bool
) -> None:
    found = chain(exported(dynamo, per_step, softmax))
    dense, norm = head_and_norm(found)
    assert [part["name"] for part in found["parts"]][-2:] == ["norm", "head"]
    assert dense["per_step"] is per_step
    assert dense["activation"] == ("softmax" if softmax else "linear")
    assert norm["epsilon"] == 1e-3
    assert not any("assumed" in note or "not record" in note for note in found["notes"]), found["notes"]


@pytest.mark.parametrize(
    ("dynamo", "per_step", "softmax"),
    [
        pytest.param(False, True, True, id="torchscript-per-step-softmax"),
        pytest.param(False, False, False, id="torchscript-last-step-linear"),
        pytest.param(True, True, False, id="dynamo-per-step-linear"),
        pytest.param(True, False, True, id="dynamo-last-step-softmax"),
    ],
)
def test_an_exported_tagger_converts_to_keras_assuming_nothing_and_computes_as_onnxruntime(
    exported: Any, tmp_path: Path, dynamo: bool, per_step: bool, softmax: bool
) -> None:
    """A last-step head is a ``Gemm`` with ``transB=1``: its weight is read transposed."""
    import keras

    source = exported(dynamo, per_step, softmax)
    result = CliRunner().invoke(cli, ["convert", str(source), "-o", str(tmp_path / "tagger.keras")])
    assert result.exit_code == 0, result.output
    assert "assum" not in result.output and "not record" not in result.output, result.output
    assert result.stdout.splitlines()[1].endswith("ok")
    model = keras.saving.load_model(tmp_path / "tagger.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(model(ids())), onnxruntime_output(source), atol=1e-5)


@pytest.mark.parametrize(
    ("per_step", "activation"),
    [pytest.param(True, "softmax", id="per-step-softmax"), pytest.param(False, None, id="last-step-linear")],
)
def test_a_graph_rnncalc_wrote_converts_to_keras_assuming_nothing_and_computes_as_onnxruntime(
    tmp_path: Path, per_step: bool, activation: str | None
) -> None:
    import keras

    module = Tagger(per_step, activation is not None)
    torch.save(module.state_dict(), tmp_path / "tagger.pt")
    config = tmp_path / "tagger.yaml"
    head = f"{{kind: dense, units: 4, per_step: {str(per_step).lower()}"
    config.write_text(
        "embedding: {vocab_size: 20, dim: 6}\n"
        "layers:\n"
        "  - {cell: lstm, hidden_size: 5}\n"
        "  - {kind: layer_norm, epsilon: 1.0e-3}\n"
        f"  - {head}{', activation: ' + activation if activation else ''}}}\n"
    )
    source = tmp_path / "tagger.onnx"
    written = CliRunner().invoke(
        cli, ["convert", str(tmp_path / "tagger.pt"), "-o", str(source), "--model", str(config)]
    )
    assert written.exit_code == 0, written.output
    dense, norm = head_and_norm(chain(source))
    assert (dense["per_step"], dense["activation"], norm["epsilon"]) == (
        per_step,
        activation or "linear",
        1e-3,
    )
    result = CliRunner().invoke(cli, ["convert", str(source), "-o", str(tmp_path / "tagger.keras")])
    assert result.exit_code == 0, result.output
    assert "assum" not in result.output and "not record" not in result.output, result.output
    model = keras.saving.load_model(tmp_path / "tagger.keras", safe_mode=True)
    expected = onnxruntime_output(source)
    with torch.no_grad():  # the graph rnncalc wrote is the module itself
        np.testing.assert_allclose(expected, module(torch.from_numpy(ids())).numpy(), atol=1e-5)
    np.testing.assert_allclose(np.asarray(model(ids())), expected, atol=1e-5)


def test_what_the_graph_leaves_uncertain_is_said_to_be_assumed(tmp_path: Path) -> None:
    """A bidirectional block's ``x[:, -1]`` is not each direction's final state, and ``* 2``
    after the head is no activation: neither is taken as recorded."""
    path = export(Tagger(False, False, scaled=True, bidirectional=True), tmp_path / "tagger.onnx", False)
    found = chain(path)
    dense, norm = head_and_norm(found)
    assert "per_step" not in dense and dense.get("activation") is None
    assert norm["epsilon"] == 1e-3
    assert any("head: the file does not record whether" in note for note in found["notes"])


@pytest.mark.parametrize("dynamo", [pytest.param(False, id="torchscript"), pytest.param(True, id="dynamo")])
def test_a_step_other_than_the_last_is_not_taken_for_the_last(
    exported: Any, tmp_path: Path, dynamo: bool
) -> None:
    """The ``Gather``'s index is read from the graph (a ``Constant`` node for TorchScript, an
    initializer in the model file for dynamo): made 0, the head takes the first step, which
    no model description holds, so where it acts is said to be assumed."""
    import onnx

    model = onnx.load(str(exported(dynamo, False, True)))
    steps = {  # the index of the Gather on the time axis (axis 1 of the batch-first output)
        node.input[1]
        for node in model.graph.node
        if node.op_type == "Gather" and any(a.name == "axis" and a.i == 1 for a in node.attribute)
    }
    zero = np.array(0, dtype=np.int64)
    found = 0
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output[0] in steps:
            node.attribute[0].t.CopyFrom(onnx.numpy_helper.from_array(zero))
            found += 1
    for init in model.graph.initializer:
        if init.name in steps:
            init.CopyFrom(onnx.numpy_helper.from_array(zero, init.name))
            found += 1
    assert found == 1
    path = tmp_path / "first_step.onnx"
    onnx.save(model, str(path))
    dense, _ = head_and_norm(chain(path))
    assert "per_step" not in dense and dense["activation"] == "softmax"


class ReluRnn(torch.nn.Module):  # type: ignore[misc,name-defined]
    """Token ids → embedding → ``nn.RNN(nonlinearity="relu")`` → a relu head on ``h_n[-1]``."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.embed = torch.nn.Embedding(20, 6)
        self.rnn = torch.nn.RNN(6, 5, batch_first=True, nonlinearity="relu")
        self.head = torch.nn.Linear(5, 3)

    def forward(self, ids: Any) -> Any:
        _, h_n = self.rnn(self.embed(ids))
        return torch.relu(self.head(h_n[-1]))


def test_an_rnns_activation_and_a_head_on_its_final_state_are_read_from_the_graph(tmp_path: Path) -> None:
    import keras

    source = export(ReluRnn(), tmp_path / "rnn.onnx", dynamo=False)
    (dense,) = [layer for layer in chain(source)["model"]["layers"] if layer.get("kind") == "dense"]
    assert (dense["per_step"], dense["activation"]) == (False, "relu")
    result = CliRunner().invoke(cli, ["convert", str(source), "-o", str(tmp_path / "rnn.keras")])
    assert result.exit_code == 0, result.output
    assert "assum" not in result.output and "not record" not in result.output, result.output
    model = keras.saving.load_model(tmp_path / "rnn.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(model(ids())), onnxruntime_output(source), atol=1e-5)
