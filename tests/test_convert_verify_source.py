"""``rnncalc convert --verify`` runs the source file itself where it holds a graph (a Keras model
through ``load_model(safe_mode=True)``, an ONNX model in an onnxruntime session) and the written
file as a user loads it; a file of weights only (a state dict) runs as the model rnncalc
rebuilt, and the verify line says which ran. Each test computes what it expects with the real
frameworks on the files themselves."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import rnncalc
from rnncalc.cli import cli

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

#: The verify step's input: batch 3, 7 steps, seed 0 (docs/convert.md), token ids below VOCAB.
BATCH, STEPS, VOCAB = 3, 7, 50


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["convert", *args])


def verify_line(result: Any) -> tuple[str, float | None, str]:
    """(how each side ran, the printed difference, the verdict) of the verify line."""
    line = result.stdout.splitlines()[-1]
    found = re.fullmatch(r"verify: (.*): largest \|difference\| (.*) \(atol \S+\): (.*)", line)
    assert found, line
    shown = None if found[2].startswith("not finite") else float(found[2])
    return found[1], shown, found[3]


def ids() -> Any:
    """The token ids the verify step feeds (seed 0, as :func:`numpy.random.default_rng` draws them)."""
    return np.random.default_rng(0).integers(0, VOCAB, size=(BATCH, STEPS), dtype=np.int64)


def session_output(path: Path, feed: Any) -> Any:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    return session.run(None, {graph_input.name: feed})[0]


def keras_tagger(path: Path, dtype: str | None = None) -> Any:
    """Token ids → embedding → LSTM → dense on the last step, saved to ``path``; the LSTM
    computes in ``dtype`` (a Keras dtype policy) when given. Weights drawn large enough that the
    LSTM's gates are not near their linear range."""
    import keras

    keras.utils.set_random_seed(0)
    lstm = keras.layers.LSTM(5, name="lstm", **({"dtype": dtype} if dtype else {}))
    embed, dense = keras.layers.Embedding(VOCAB, 6, name="embed"), keras.layers.Dense(3, name="head")
    model = keras.Sequential([keras.Input((None,), dtype="int32"), embed, lstm, dense])
    rng = np.random.default_rng(1)
    model.set_weights([rng.standard_normal(w.shape).astype("float32") for w in model.get_weights()])
    model.save(path)
    return model


def test_a_keras_file_that_computes_in_float16_is_what_verify_runs(tmp_path: Path) -> None:
    """The LSTM of the source file computes in float16 (its dtype policy ``mixed_float16``, which
    rnncalc's description of the model does not record; its variables are float32). rnncalc's
    reconstruction computes in float32 and agrees with the written ONNX graph (checked below
    against the same model in float32); the file run by Keras does not, and the difference
    printed is the one between ``load_model(SRC)`` and onnxruntime on DST, computed here."""
    import keras

    source = tmp_path / "mixed.keras"
    keras_tagger(source, "mixed_float16")
    result = run(str(source), "-o", str(tmp_path / "mixed.onnx"))
    assert result.exit_code == 1, result.output
    ran, shown, verdict = verify_line(result)
    assert ran == "source file run by Keras, target file run by onnxruntime"
    assert verdict == "FAILED"
    loaded = keras.saving.load_model(source, safe_mode=True)
    written = session_output(tmp_path / "mixed.onnx", ids())
    difference = float(np.abs(np.asarray(loaded(ids())) - written).max())
    assert difference > 1e-4  # float16 rounding, far above the default atol
    assert shown == float(f"{difference:.3g}")
    in_float32 = keras_tagger(tmp_path / "float32.keras")
    np.testing.assert_allclose(np.asarray(in_float32(ids())), written, atol=1e-5)


def onnx_with(tmp_path: Path, op_type: str, **attributes: Any) -> tuple[Path, Path]:
    """An ONNX whole model (rnncalc's graph of the Keras tagger) and a copy whose recurrent
    block's output passes through ``op_type`` (a weightless operator, no initializer) on its way
    to the dense head: rnncalc reads both as the same model with the same weights."""
    keras_tagger(tmp_path / "tagger.keras")
    plain = tmp_path / "tagger.onnx"
    assert run(str(tmp_path / "tagger.keras"), "-o", str(plain), "--no-verify").exit_code == 0
    model = onnx.load(str(plain))
    nodes = list(model.graph.node)
    (head,) = [node for node in nodes if node.op_type == "MatMul"]
    before = nodes[: nodes.index(head)]
    inputs = [head.input[0]]
    if op_type == "Loop":  # its condition, true at the start
        before.append(
            onnx.helper.make_node("Constant", [], ["start"], value=onnx.helper.make_tensor("", 9, [], [1]))
        )
        inputs = ["", "start", head.input[0]]
    inserted = onnx.helper.make_node(op_type, inputs, ["inserted"], name="inserted", **attributes)
    head.input[0] = "inserted"
    model.graph.ClearField("node")
    model.graph.node.extend([*before, inserted, *nodes[nodes.index(head) :]])
    onnx.checker.check_model(model, full_check=True)
    changed = tmp_path / f"tagger_{op_type.lower()}.onnx"
    onnx.save(model, str(changed))
    return plain, changed


def test_a_weightless_operator_in_an_onnx_source_fails_verify(tmp_path: Path) -> None:
    """A ``Relu`` between the LSTM and the head changes what the file computes but no tensor
    rnncalc reads: the reconstruction of the changed file is the plain file's, which converts
    with ``ok``; running the changed file itself fails, by the difference the Relu makes."""
    plain, changed = onnx_with(tmp_path, "Relu")
    result = run(str(plain), "-o", str(tmp_path / "plain.pt"))
    assert result.exit_code == 0, result.output
    assert (
        verify_line(result)[0]
        == "source file run by onnxruntime, target rebuilt in PyTorch (read as weights only)"
    )
    result = run(str(changed), "-o", str(tmp_path / "changed.pt"))
    assert result.exit_code == 1, result.output
    ran, shown, verdict = verify_line(result)
    assert ran == "source file run by onnxruntime, target rebuilt in PyTorch (read as weights only)"
    assert verdict.startswith("FAILED")  # the ONNX graph does not record the head's activation
    # The same tensors written from either file: the rebuilt model cannot tell them apart.
    plain_state, changed_state = (torch.load(tmp_path / name) for name in ("plain.pt", "changed.pt"))
    assert plain_state.keys() == changed_state.keys()
    for name, tensor in plain_state.items():
        assert torch.equal(tensor, changed_state[name])
    # The target computes what the plain file computes: the difference is the Relu's.
    relu = float(np.abs(session_output(changed, ids()) - session_output(plain, ids())).max())
    assert shown is not None and relu > 0.1 and abs(shown - relu) <= 5e-3 * relu  # printed to 3 figures


def test_a_nan_in_the_source_files_output_fails_verify_whatever_atol(tmp_path: Path) -> None:
    """A ``Log`` of the LSTM's output (negative in places) gives the source file NaNs that the
    rebuilt target does not have: not finite, exit 1, even with a huge atol."""
    _, changed = onnx_with(tmp_path, "Log")
    assert np.isnan(session_output(changed, ids())).any()
    result = run(str(changed), "-o", str(tmp_path / "changed.safetensors"), "--atol", "1e30")
    assert result.exit_code == 1, result.output
    ran, shown, verdict = verify_line(result)
    assert ran.startswith("source file run by onnxruntime, ")
    assert shown is None and verdict.startswith("FAILED")


def test_control_flow_in_an_onnx_source_is_not_run(tmp_path: Path) -> None:
    """A ``Loop`` (here one step, its body passing the value through and ending the loop) in
    the source graph: verify does not run the file, and says why (a file's loop may not end)."""
    value = onnx.helper.make_tensor_value_info("v", onnx.TensorProto.FLOAT, None)
    body = onnx.helper.make_graph(
        [
            onnx.helper.make_node(
                "Constant", [], ["cond_out"], value=onnx.helper.make_tensor("", 9, [], [0])
            ),
            onnx.helper.make_node("Identity", ["v"], ["v_out"]),
        ],
        "body",
        [
            onnx.helper.make_tensor_value_info("i", onnx.TensorProto.INT64, []),
            onnx.helper.make_tensor_value_info("cond", onnx.TensorProto.BOOL, []),
            value,
        ],
        [
            onnx.helper.make_tensor_value_info("cond_out", onnx.TensorProto.BOOL, []),
            onnx.helper.make_tensor_value_info("v_out", onnx.TensorProto.FLOAT, None),
        ],
    )
    plain, changed = onnx_with(tmp_path, "Loop", body=body)
    np.testing.assert_array_equal(session_output(changed, ids()), session_output(plain, ids()))  # it runs
    result = run(str(changed), "-o", str(tmp_path / "changed.pt"))
    assert result.exit_code == 0, result.output
    assert verify_line(result)[0] == (
        "source rebuilt in ONNX (its graph holds control flow (Loop 'inserted'), which verify does "
        "not run), target rebuilt in PyTorch (read as weights only)"
    )


def test_a_state_dict_source_runs_rebuilt_and_names_the_assumptions(tmp_path: Path) -> None:
    """A state dict holds no graph: the model rnncalc rebuilt runs, and the verdict names what
    was assumed (the head's place, no activation)."""
    torch.manual_seed(0)
    module = torch.nn.ModuleDict(
        {"embed": torch.nn.Embedding(VOCAB, 6), "rnn": torch.nn.GRU(6, 5), "fc": torch.nn.Linear(5, 3)}
    )
    torch.save(module.state_dict(), tmp_path / "tagger.pt")
    result = run(str(tmp_path / "tagger.pt"), "-o", str(tmp_path / "tagger.keras"))
    assert result.exit_code == 0, result.output
    ran, shown, verdict = verify_line(result)
    assert ran == "source rebuilt in PyTorch (read as weights only), target file run by Keras"
    assert shown is not None and shown <= 1e-5
    assert verdict.startswith("ok, assuming ") and "no activation after fc" in verdict


def test_a_keras_stack_returning_its_last_step_is_compared_on_each_directions_final_state(
    tmp_path: Path,
) -> None:
    """A bidirectional Keras layer with ``return_sequences=False`` returns the forward
    direction's last step and the backward one's first; the written graph returns every step,
    and the two are compared where they meet."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, 4))
    outputs = keras.layers.Bidirectional(keras.layers.GRU(3))(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "last.keras")
    result = run(str(tmp_path / "last.keras"), "-o", str(tmp_path / "last.onnx"))
    assert result.exit_code == 0, result.output
    ran, shown, verdict = verify_line(result)
    assert ran == "source file run by Keras, target file run by onnxruntime"
    assert shown is not None and shown <= 1e-5 and verdict == "ok"


def export(module: Any, path: Path, x: Any, dynamic: bool) -> None:
    """``torch.onnx.export`` (TorchScript exporter) of ``module`` on ``x``, batch and time
    dynamic when ``dynamic``, else fixed at ``x``'s."""
    import warnings

    axes = {"x": {0: "batch", 1: "time"}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), str(path), dynamo=False, input_names=["x"], dynamic_axes=axes)


def test_a_batch_first_graph_torch_exported_is_fed_batch_major(tmp_path: Path) -> None:
    """torch.onnx.export writes a ``batch_first`` GRU as Transposes around a time-major
    operator: the file is fed ``(batch, time, features)`` as its graph reads it."""
    torch.manual_seed(0)
    module = torch.nn.GRU(4, 3, bidirectional=True, batch_first=True)
    export(module, tmp_path / "gru.onnx", torch.randn(2, 5, 4), dynamic=True)
    result = rnncalc.convert(tmp_path / "gru.onnx", tmp_path / "gru.pt", verify=True)
    assert result["verified"] == {
        "source": "file run by onnxruntime",
        "target": "rebuilt in PyTorch (read as weights only)",
    }
    assert result["largest_difference"] <= 1e-5


def test_a_graph_with_a_fixed_input_shape_runs_rebuilt_saying_why(tmp_path: Path) -> None:
    """torch.onnx.export without dynamic axes fixes the input's shape, here time-major: the
    file cannot take the verify step's input, so the reconstruction runs and the line says why."""
    torch.manual_seed(0)
    export(torch.nn.LSTM(4, 3), tmp_path / "lstm.onnx", torch.randn(5, 2, 4), dynamic=False)
    result = run(str(tmp_path / "lstm.onnx"), "-o", str(tmp_path / "lstm.keras"))
    assert result.exit_code == 0, result.output
    ran, _, verdict = verify_line(result)
    assert ran == (
        "source rebuilt in ONNX (its input 'x' has the shape [5, 2, 4], not [7, 3, 4]), "
        "target file run by Keras"
    )
    assert verdict == "ok"


def test_part_of_a_file_runs_rebuilt_saying_why(tmp_path: Path) -> None:
    """The file's own output is its whole model's, not that of the parts ``--part`` picked."""
    keras_tagger(tmp_path / "tagger.keras")
    result = run(str(tmp_path / "tagger.keras"), "-o", str(tmp_path / "lstm.onnx"), "--part", "embed,lstm")
    assert result.exit_code == 0, result.output
    assert verify_line(result)[0] == (
        "source rebuilt in Keras 3 (--part picked a part of the file), target file run by onnxruntime"
    )


def test_a_keras_2_h5_that_keras_3_cannot_load_runs_in_tf_keras(tmp_path: Path) -> None:
    """Keras 3 refuses a Keras 2 LSTM's config (``time_major``); ``tf_keras`` loads the file and
    runs it. Its last GRU returns the last step, compared with the target's."""
    import importlib.util

    import keras

    if importlib.util.find_spec("tf_keras") is None:
        pytest.skip("tf_keras is not installed: pip install --no-deps tf-keras==2.21.0")
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    layers = tf_keras.layers
    model = tf_keras.Sequential(
        [
            layers.InputLayer((None, 4)),
            layers.Bidirectional(layers.LSTM(3, return_sequences=True)),
            layers.Dropout(0.1),
            layers.GRU(2),
        ]
    )
    model.save(tmp_path / "keras2.h5")
    with pytest.raises(ValueError, match="time_major"):
        keras.saving.load_model(tmp_path / "keras2.h5", safe_mode=True, compile=False)
    result = run(str(tmp_path / "keras2.h5"), "-o", str(tmp_path / "keras2.onnx"))
    assert result.exit_code == 0, result.output
    ran, shown, verdict = verify_line(result)
    assert ran == "source file run by tf_keras, target file run by onnxruntime"
    assert shown is not None and shown <= 1e-5 and verdict == "ok"


def test_an_onnx_source_with_external_data_runs_from_its_directory(tmp_path: Path) -> None:
    """The weights beside the model (``onnx.save(save_as_external_data=True)``): checked as
    convert reads them, then read by onnxruntime's session on the file."""
    torch.manual_seed(0)
    torch.save(torch.nn.GRU(4, 3, num_layers=2).state_dict(), tmp_path / "gru.pt")
    assert run(str(tmp_path / "gru.pt"), "-o", str(tmp_path / "gru.onnx"), "--no-verify").exit_code == 0
    model = onnx.load(str(tmp_path / "gru.onnx"))
    onnx.save(
        model,
        str(tmp_path / "external.onnx"),
        save_as_external_data=True,
        location="weights.bin",
        size_threshold=0,
    )
    assert (tmp_path / "weights.bin").exists()
    result = run(str(tmp_path / "external.onnx"), "-o", str(tmp_path / "back.safetensors"))
    assert result.exit_code == 0, result.output
    ran, shown, verdict = verify_line(result)
    assert ran == "source file run by onnxruntime, target rebuilt in PyTorch (read as weights only)"
    assert shown is not None and shown <= 1e-5 and verdict == "ok"


def test_a_keras_model_in_memory_runs_rebuilt_from_its_weights(tmp_path: Path) -> None:
    """A model in memory has no file for its framework to load: its weights are read in place,
    so the rebuilt model runs, and the written file is run as a user runs it."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((None, 4)), keras.layers.GRU(3, return_sequences=True)])
    result = rnncalc.convert(model, tmp_path / "gru.onnx", verify=True)
    assert result["verified"] == {
        "source": "rebuilt in Keras 3 (read as weights only)",
        "target": "file run by onnxruntime",
    }
    assert result["largest_difference"] <= 1e-5


def test_an_onnx_source_that_would_grow_a_huge_tensor_is_not_run(tmp_path: Path) -> None:
    """A graph can make a tensor of any size from a few bytes (``Expand`` of one value to a
    constant shape, here 40000 × 40000 float32: 6.4 GB): the sizes ONNX's shape inference
    gives every tensor are added up before the file runs, and past the bound verify runs the
    rebuilt model instead, saying why, in bounded memory."""
    import resource

    plain, _ = onnx_with(tmp_path, "Relu")
    model = onnx.load(str(plain))
    helper = onnx.helper
    model.graph.node.extend(
        [
            helper.make_node("Constant", [], ["one"], value=helper.make_tensor("", 1, [], [1.0])),
            helper.make_node("Constant", [], ["shape"], value=helper.make_tensor("", 7, [2], [40000, 40000])),
            helper.make_node("Expand", ["one", "shape"], ["big"], name="grow"),
        ]
    )
    model.graph.output.append(helper.make_tensor_value_info("big", onnx.TensorProto.FLOAT, None))
    grown = tmp_path / "grown.onnx"
    onnx.save(model, str(grown))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = run(str(grown), "-o", str(tmp_path / "grown.pt"))
    assert result.exit_code == 0, result.output
    ran = verify_line(result)[0]
    assert ran.startswith("source rebuilt in ONNX (its graph would make 6,400,")
    assert "bytes of tensors, over the" in ran
    grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
    assert grew < 2**30  # the 6.4 GB tensor was never made
