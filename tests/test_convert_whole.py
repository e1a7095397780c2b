"""``rnncalc convert`` of whole models (embedding, recurrent blocks that differ, layer norms,
dense heads): each written file is loaded the way a user loads it (Keras ``load_model`` with
``safe_mode=True``, an onnxruntime session) and run against the PyTorch module the test
defines with its own ``forward``; assumptions are said and named in the verdict; refusals name
the part and leave no file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rnncalc.cli import cli

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


class Tagger(torch.nn.Module):  # type: ignore[misc,name-defined]
    """Token ids → embedding → bidirectional LSTM → layer norm → dropout → GRU → two dense
    layers on the last step, the second with a softmax when ``softmax``."""

    def __init__(self, softmax: bool = False) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(50, 6)
        self.rnn = torch.nn.LSTM(6, 5, batch_first=True, bidirectional=True)
        self.norm = torch.nn.LayerNorm(10)
        self.drop = torch.nn.Dropout(0.2)
        self.rnn2 = torch.nn.LSTM(10, 7, batch_first=True, num_layers=2)
        self.fc = torch.nn.Linear(7, 4)
        self.out = torch.nn.Linear(4, 3)
        self.softmax = softmax

    def forward(self, ids: Any) -> Any:
        x, _ = self.rnn(self.embed(ids))
        x, _ = self.rnn2(self.drop(self.norm(x)))
        y = self.out(self.fc(x[:, -1]))
        return torch.softmax(y, -1) if self.softmax else y


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["convert", *args])


@pytest.fixture
def tagger(tmp_path: Path) -> tuple[Path, Any]:
    torch.manual_seed(0)
    module = Tagger().eval()
    with torch.no_grad():  # nonzero biases and norm parameters everywhere
        for parameter in module.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.3)
    path = tmp_path / "tagger.pt"
    torch.save(module.state_dict(), path)
    return path, module


def ids() -> Any:
    return np.random.default_rng(1).integers(0, 50, size=(3, 9))


def expected(module: Any) -> Any:
    with torch.no_grad():
        return module(torch.from_numpy(ids())).numpy()


def test_a_state_dict_becomes_a_keras_model_that_load_model_runs_as_the_module_does(
    tagger: tuple[Path, Any], tmp_path: Path
) -> None:
    import keras

    source, module = tagger
    result = run(str(source), "-o", str(tmp_path / "tagger.keras"))
    assert result.exit_code == 0, result.output
    written, verdict = result.stdout.splitlines()
    assert (
        "embedding 50×6 → lstm 5 bi → layer_norm → lstm 7 ×2 → dense 4 last step → dense 3 last step"
        in written
    )
    assert verdict.endswith(
        "ok, assuming fc on the last step, out on the last step, epsilon 1e-05, "
        "no activation after fc, no activation after out"
    )
    assert "norm: the file does not record the layer norm's epsilon" in result.stderr
    model = keras.saving.load_model(tmp_path / "tagger.keras", safe_mode=True)
    got = np.asarray(model(ids()))
    np.testing.assert_allclose(got, expected(module), atol=1e-5)


def test_a_state_dict_becomes_an_onnx_graph_that_onnxruntime_runs_as_the_module_does(
    tagger: tuple[Path, Any], tmp_path: Path
) -> None:
    ort = pytest.importorskip("onnxruntime")
    source, module = tagger
    result = run(str(source), "-o", str(tmp_path / "tagger.onnx"), "--no-verify")
    assert result.exit_code == 0, result.output
    session = ort.InferenceSession(str(tmp_path / "tagger.onnx"), providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    (got,) = session.run(None, {graph_input.name: ids().astype(np.int64)})
    np.testing.assert_allclose(got, expected(module), atol=1e-5)


def test_a_stated_model_gives_the_head_its_activation_and_leaves_nothing_assumed(
    tagger: tuple[Path, Any], tmp_path: Path
) -> None:
    import keras

    source, module = tagger
    module.softmax = True
    config = tmp_path / "tagger.yaml"
    config.write_text(
        "embedding: {vocab_size: 50, dim: 6}\n"
        "layers:\n"
        "  - {cell: lstm, hidden_size: 5, bidirectional: true}\n"
        "  - {kind: layer_norm, epsilon: 1.0e-5}\n"
        "  - {kind: dropout, rate: 0.2}\n"
        "  - {cell: lstm, hidden_size: 7, num_layers: 2}\n"
        "  - {kind: dense, units: 4, per_step: false}\n"
        "  - {kind: dense, units: 3, activation: softmax, per_step: false}\n"
    )
    result = run(str(source), "-o", str(tmp_path / "tagger.keras"), "--model", str(config))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].endswith("ok")
    assert "assum" not in result.output
    model = keras.saving.load_model(tmp_path / "tagger.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(model(ids())), expected(module), atol=1e-5)


def test_a_stated_model_with_other_parts_is_refused_naming_the_flag(
    tagger: tuple[Path, Any], tmp_path: Path
) -> None:
    source, _ = tagger
    config = tmp_path / "wrong.yaml"
    config.write_text("embedding: {vocab_size: 50, dim: 6}\nlayers:\n  - {cell: gru, hidden_size: 5}\n")
    result = run(str(source), "-o", str(tmp_path / "out.keras"), "--model", str(config))
    assert result.exit_code == 2
    assert result.stderr.startswith("rnncalc: error: --model: describes other parts")
    assert not (tmp_path / "out.keras").exists()


def test_a_keras_model_converts_back_without_assumptions(tagger: tuple[Path, Any], tmp_path: Path) -> None:
    """The Keras file records where each head acts and its activation: nothing is assumed, and
    the ONNX graph it becomes runs as the module did."""
    ort = pytest.importorskip("onnxruntime")
    source, module = tagger
    assert run(str(source), "-o", str(tmp_path / "tagger.keras"), "--no-verify").exit_code == 0
    result = run(str(tmp_path / "tagger.keras"), "-o", str(tmp_path / "back.onnx"))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].endswith("): ok")
    assert result.stderr == ""
    session = ort.InferenceSession(str(tmp_path / "back.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: ids().astype(np.int64)})
    np.testing.assert_allclose(got, expected(module), atol=1e-5)


def test_two_chains_need_part_and_part_picks_an_encoder_with_its_embedding(tmp_path: Path) -> None:
    class Seq2Seq(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(30, 4)
            self.encoder = torch.nn.GRU(4, 6, batch_first=True)
            self.decoder = torch.nn.GRU(4, 6, batch_first=True)

    torch.manual_seed(2)
    module = Seq2Seq()
    source = tmp_path / "s2s.pt"
    torch.save(module.state_dict(), source)
    refused = run(str(source), "-o", str(tmp_path / "s2s.onnx"))
    assert refused.exit_code == 2 and "--part" in refused.stderr and "decoder" in refused.stderr
    assert not (tmp_path / "s2s.onnx").exists()
    result = run(str(source), "-o", str(tmp_path / "dec.onnx"), "--part", "embed,decoder", "--no-verify")
    assert result.exit_code == 0, result.output
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(tmp_path / "dec.onnx"), providers=["CPUExecutionProvider"])
    tokens = np.random.default_rng(0).integers(0, 30, size=(2, 5))
    (got,) = session.run(None, {session.get_inputs()[0].name: tokens})
    with torch.no_grad():
        want, _ = module.decoder(module.embed(torch.from_numpy(tokens)))
    np.testing.assert_allclose(got, want.numpy(), atol=1e-5)
    alone = run(str(source), "-o", str(tmp_path / "encoder.pt"), "--part", "encoder", "--no-verify")
    assert alone.exit_code == 0, alone.output
    gru = torch.nn.GRU(4, 6)
    gru.load_state_dict(torch.load(tmp_path / "encoder.pt"), strict=True)  # the bare stack's names


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ("nope", "--part: "),
        ("embed,embed", "names a part twice"),
        ("encoder,embed", "it can only come first"),
    ],
)
def test_a_bad_part_is_one_line_naming_the_flag(tmp_path: Path, names: str, message: str) -> None:
    class Encoder(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(30, 4)
            self.encoder = torch.nn.GRU(4, 6)

    torch.save(Encoder().state_dict(), tmp_path / "m.pt")
    result = run(str(tmp_path / "m.pt"), "-o", str(tmp_path / "m.onnx"), "--part", names)
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("rnncalc: error: --part") and message in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_a_module_outside_the_model_description_is_refused_by_name(tmp_path: Path) -> None:
    class WithConv(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(30, 4)
            self.conv = torch.nn.Conv1d(4, 4, 3)
            self.rnn = torch.nn.GRU(4, 6)

    torch.save(WithConv().state_dict(), tmp_path / "m.pt")
    result = run(str(tmp_path / "m.pt"), "-o", str(tmp_path / "m.keras"))
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert "conv" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_a_keras_layer_the_target_cannot_hold_is_refused_by_name_and_class(tmp_path: Path) -> None:
    import keras

    model = keras.Sequential(
        [
            keras.Input((6,), dtype="int32"),
            keras.layers.Embedding(20, 4),
            keras.layers.Conv1D(4, 3, name="feature_conv"),
            keras.layers.LSTM(5),
            keras.layers.Dense(2),
        ]
    )
    model.save(tmp_path / "m.keras")
    result = run(str(tmp_path / "m.keras"), "-o", str(tmp_path / "m.pt"))
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert "'feature_conv' (Conv1D)" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]


def test_an_embedding_with_a_mask_is_refused_saying_why(tmp_path: Path) -> None:
    import keras

    model = keras.Sequential(
        [keras.Input((6,), dtype="int32"), keras.layers.Embedding(20, 4, mask_zero=True), keras.layers.GRU(5)]
    )
    model.save(tmp_path / "m.keras")
    result = run(str(tmp_path / "m.keras"), "-o", str(tmp_path / "m.onnx"))
    assert result.exit_code == 2 and "mask_zero=True" in result.stderr
    assert not (tmp_path / "m.onnx").exists()


def converted_and_printed(source: Path, destination: Path, framework: str) -> Any:
    """Convert ``source`` to ``destination`` and run, as it stands, the script ``rnncalc code``
    prints for the model convert reports; returns the script's ``model``."""
    import json

    import rnncalc

    done = rnncalc.convert(source, destination)
    config = destination.with_name("model.json")
    config.write_text(json.dumps(done["model"]))
    script = CliRunner().invoke(cli, ["code", str(config), "-F", framework])
    assert script.exit_code == 0, script.output
    namespace: dict[str, Any] = {}
    exec(compile(script.stdout, "code.py", "exec"), namespace)  # the user's script, run as is
    return namespace["model"]


def test_the_state_dict_loads_strictly_into_the_module_rnncalc_code_prints(
    tagger: tuple[Path, Any], tmp_path: Path
) -> None:
    """The names convert writes are those of the module ``rnncalc code`` prints for the model
    convert reports: the script's ``model`` loads the file with ``strict=True`` and computes
    what the source module computes."""
    from safetensors.torch import load_file

    source, module = tagger
    built = converted_and_printed(source, tmp_path / "copy.safetensors", "torch").eval()
    built.load_state_dict(load_file(tmp_path / "copy.safetensors"), strict=True)
    with torch.no_grad():
        got = built(torch.from_numpy(ids())).numpy()
    np.testing.assert_allclose(got, expected(module), atol=1e-5)


def test_the_flax_state_restores_into_the_module_rnncalc_code_prints(
    tagger: tuple[Path, Any], tmp_path: Path
) -> None:
    """As above for Flax: the ``.msgpack`` restores into the printed NNX module as Flax's
    checkpointing guide restores a state, and the module computes what the source did."""
    pytest.importorskip("flax")
    from flax import nnx, serialization

    source, module = tagger
    built = converted_and_printed(source, tmp_path / "copy.msgpack", "flax")
    state = nnx.state(built, nnx.Param)
    nnx.replace_by_pure_dict(state, serialization.msgpack_restore((tmp_path / "copy.msgpack").read_bytes()))
    nnx.update(built, state)
    np.testing.assert_allclose(np.asarray(built(ids())), expected(module), atol=1e-5)


def test_a_stated_model_keeps_two_alike_keras_layers_two_blocks(tmp_path: Path) -> None:
    """Two alike Keras LSTM layers read as one block of two layers (nn.LSTM(num_layers=2));
    a --model stating two blocks keeps them apart, and the ONNX graph computes as Keras does."""
    import json

    import keras

    ort = pytest.importorskip("onnxruntime")
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(20, 4),
            keras.layers.LSTM(5, return_sequences=True),
            keras.layers.LSTM(5, return_sequences=True),
        ]
    )
    model.save(tmp_path / "m.keras")
    config = {
        "embedding": {"vocab_size": 20, "dim": 4},
        "layers": [{"cell": "lstm", "hidden_size": 5}, {"cell": "lstm", "hidden_size": 5}],
        "batch_first": True,
        "return_sequences": True,
    }
    (tmp_path / "m.json").write_text(json.dumps(config))
    result = run(
        str(tmp_path / "m.keras"), "-o", str(tmp_path / "m.onnx"), "--model", str(tmp_path / "m.json")
    )
    assert result.exit_code == 0, result.output
    assert "lstm 5 → lstm 5" in result.stdout
    tokens = np.random.default_rng(0).integers(0, 20, size=(2, 6))
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: tokens})
    np.testing.assert_allclose(got, np.asarray(model(tokens)), atol=1e-5)
