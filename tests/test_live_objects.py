"""Models in memory: ``rnncalc.inspect(obj)`` is ``rnncalc inspect`` of the same object saved,
``rnncalc.convert(obj, dst)`` writes the file converting the saved object writes, and what only
the object knows (its module types and arguments) is used, not guessed. Real frameworks only."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rnncalc

torch = pytest.importorskip("torch")
nn = torch.nn

#: What a live object's document says of itself, where the saved file's says its path and format.
OWN_FACTS = ("file", "format")


class Tagger(nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(32, 5)


def inspected_file(run_cli: Callable[..., Any], path: Path) -> dict[str, Any]:
    result = run_cli("inspect", str(path), "--format", "json")
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def same_but_own_facts(live: dict[str, Any], saved: dict[str, Any]) -> None:
    assert _without_own_facts(live) == _without_own_facts(saved)


def _without_own_facts(document: dict[str, Any]) -> dict[str, Any]:
    """The document without the file's own facts, at the top and in each model's ``source``."""
    kept = {key: value for key, value in document.items() if key not in OWN_FACTS}
    kept["models"] = [
        {**model, "source": {k: v for k, v in model["source"].items() if k not in OWN_FACTS}}
        for model in document.get("models", [])
    ]
    return kept


@pytest.mark.parametrize("make", [Tagger, lambda: nn.GRU(3, 4, num_layers=2)], ids=["tagger", "gru"])
def test_a_torch_module_reads_as_its_state_dict_saved(
    make: Callable[[], Any], tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    module = make()
    torch.save(module.state_dict(), tmp_path / "m.pt")
    live = rnncalc.inspect(module)
    same_but_own_facts(live, inspected_file(run_cli, tmp_path / "m.pt"))
    assert live["file"] == f"<{type(module).__name__}>" and live["format"] == "torch.nn.Module"
    assert live["total_params"] == sum(p.numel() for p in module.parameters())


def test_an_nn_rnn_states_its_nonlinearity_where_its_state_dict_leaves_it_assumed(
    tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    module = nn.RNN(3, 4, nonlinearity="relu", batch_first=True)
    torch.save(module.state_dict(), tmp_path / "rnn.pt")
    (saved,) = inspected_file(run_cli, tmp_path / "rnn.pt")["recurrent"]
    (live,) = rnncalc.inspect(module)["recurrent"]
    assert saved["spec"]["nonlinearity"] == "tanh" and any("tanh assumed" in n for n in saved["notes"])
    assert live["spec"]["nonlinearity"] == "relu" and live["notes"] == []


def test_modules_rnncalc_does_not_describe_are_named_with_their_parameters() -> None:
    class Custom(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(4, 4)
            self.attn = nn.MultiheadAttention(4, 2)
            self.conv = nn.Conv1d(4, 4, 3)
            self.scale = nn.Parameter(torch.ones(3))

    module = Custom()
    document = rnncalc.inspect(module)
    layers = {tensor["name"]: tensor["layer"] for tensor in document["tensors"]}
    assert {name for name, layer in layers.items() if layer == "attn (MultiheadAttention)"} == {
        f"attn.{name}" for name, _ in module.attn.named_parameters()
    }
    assert layers["scale"] == "(top level: Custom)" and layers["gru.weight_ih_l0"] is None
    attention = sum(p.numel() for p in module.attn.parameters())
    convolution = sum(p.numel() for p in module.conv.parameters())
    assert f"its {attention:,} parameters" in " ".join(n for n in document["notes"] if n.startswith("attn "))
    assert f"its {convolution:,} parameters" in " ".join(
        n for n in document["notes"] if n.startswith("conv ")
    )
    assert document["other_params"] == attention + convolution + 3


def test_a_torch_modules_a_keras_layers_and_a_flax_modules_weights_are_read_in_place() -> None:
    from rnncalc.inspect.live import read_object

    module = nn.LSTM(3, 4, num_layers=2)
    data = read_object(module).data
    assert all(
        np.shares_memory(data[name], value.detach().numpy()) for name, value in module.named_parameters()
    )
    nnx = pytest.importorskip("flax.nnx")
    rnn = nnx.RNN(nnx.LSTMCell(3, 4, rngs=nnx.Rngs(0)))
    kernel = read_object(rnn).data["cell.ii.kernel"]
    assert np.shares_memory(kernel, np.asarray(rnn.cell.ii.kernel.value))
    keras = pytest.importorskip("keras")
    layer = keras.layers.LSTM(4)
    layer.build((None, None, 3))
    data = read_object(layer).data
    # Two reads view one buffer, the variable's (TensorFlow gives numpy no other handle on it).
    assert all(np.shares_memory(data[name], data[name]) for name in data)


def test_converting_a_torch_module_writes_the_file_converting_its_state_dict_writes(tmp_path: Path) -> None:
    module = nn.GRU(3, 5, num_layers=2, bidirectional=True)
    torch.save(module.state_dict(), tmp_path / "gru.pt")
    rnncalc.convert(str(tmp_path / "gru.pt"), tmp_path / "saved.safetensors")
    done = rnncalc.convert(module, tmp_path / "live.safetensors")
    assert (tmp_path / "live.safetensors").read_bytes() == (tmp_path / "saved.safetensors").read_bytes()
    assert done["tensors"] == 16 and done["params"] == sum(p.numel() for p in module.parameters())


def test_a_torch_module_converted_to_keras_runs_as_the_module(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    torch.manual_seed(0)
    module = nn.LSTM(3, 4, batch_first=True)
    rnncalc.convert(module, tmp_path / "lstm.keras")
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    expected = module(torch.from_numpy(x))[0].detach().numpy()
    got = np.asarray(keras.saving.load_model(tmp_path / "lstm.keras")(x))
    assert np.max(np.abs(got - expected)) < 1e-5


@pytest.mark.filterwarnings("ignore:You are saving a model that has not yet been built")
def test_a_keras_sequential_and_a_bare_layer_read_as_their_keras_files(
    tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    keras = pytest.importorskip("keras")
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(50, 8),
            keras.layers.LSTM(16, return_sequences=True),
            keras.layers.Dropout(0.1),
            keras.layers.Dense(5),
        ]
    )
    model.save(tmp_path / "model.keras")
    live = rnncalc.inspect(model)
    same_but_own_facts(live, inspected_file(run_cli, tmp_path / "model.keras"))
    assert live["format"] == "keras.Model" and live["total_params"] == model.count_params()

    layer = keras.layers.GRU(6, reset_after=False)
    layer.build((None, None, 3))
    keras.Sequential([layer]).save(tmp_path / "layer.keras")
    live = rnncalc.inspect(layer)
    same_but_own_facts(live, inspected_file(run_cli, tmp_path / "layer.keras"))
    assert live["format"] == "keras.Layer" and live["recurrent"][0]["spec"]["reset_after"] is False

    # PyTorch has no reset_after=False GRU; ONNX has (linear_before_reset=0).
    rnncalc.convert(str(tmp_path / "layer.keras"), tmp_path / "saved.onnx")
    rnncalc.convert(layer, tmp_path / "live.onnx")
    assert (tmp_path / "live.onnx").read_bytes() == (tmp_path / "saved.onnx").read_bytes()


def test_a_keras_layer_converted_to_torch_runs_as_the_layer(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    layer = keras.layers.GRU(4, return_sequences=True)
    x = np.random.default_rng(1).standard_normal((2, 5, 3)).astype(np.float32)
    expected = np.asarray(layer(x))
    rnncalc.convert(layer, tmp_path / "gru.pt")
    module = nn.GRU(3, 4, batch_first=True)
    module.load_state_dict(torch.load(tmp_path / "gru.pt"), strict=True)
    got = module(torch.from_numpy(x))[0].detach().numpy()
    assert np.max(np.abs(got - expected)) < 1e-5


def test_a_flax_module_reads_as_its_state_and_converts_as_its_msgpack_file(tmp_path: Path) -> None:
    nnx = pytest.importorskip("flax.nnx")
    serialization = pytest.importorskip("flax.serialization")
    jax = pytest.importorskip("jax")

    class Encoder(nnx.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            rngs = nnx.Rngs(0)
            cell = nnx.SimpleCell
            self.layers = nnx.List(
                [
                    nnx.RNN(cell(3, 4, activation_fn=nnx.relu, rngs=rngs)),
                    nnx.RNN(cell(4, 4, activation_fn=nnx.relu, rngs=rngs)),
                ]
            )

        def __call__(self, x: Any) -> Any:
            for layer in self.layers:
                x = layer(x)
            return x

    model = Encoder()
    state = nnx.state(model, nnx.Param)
    document = rnncalc.inspect(model)
    assert document["format"] == "flax.nnx.Module" and document["other_params"] == 0
    # One layer per nnx.RNN, its spec from the cell's attributes (activation_fn=relu included).
    for index, layer in enumerate(document["recurrent"]):
        expected = {"cell": "rnn", "hidden_size": 4, "input_size": 4 if index else 3, "nonlinearity": "relu"}
        assert layer["prefix"] == f"layers.{index}" and layer["notes"] == []
        assert {key: layer["spec"][key] for key in expected} == expected
    assert len(document["recurrent"]) == 2
    assert document["total_params"] == sum(leaf.size for leaf in jax.tree.leaves(state))

    (tmp_path / "state.msgpack").write_bytes(serialization.msgpack_serialize(nnx.to_pure_dict(state)))
    rnncalc.convert(str(tmp_path / "state.msgpack"), tmp_path / "saved.safetensors")
    rnncalc.convert(model, tmp_path / "live.safetensors")
    assert (tmp_path / "live.safetensors").read_bytes() == (tmp_path / "saved.safetensors").read_bytes()

    rnncalc.convert(model, tmp_path / "encoder.pt")
    module = nn.RNN(3, 4, num_layers=2, nonlinearity="relu", batch_first=True)
    module.load_state_dict(torch.load(tmp_path / "encoder.pt"), strict=True)
    x = np.random.default_rng(2).standard_normal((2, 5, 3)).astype(np.float32)
    got = module(torch.from_numpy(x))[0].detach().numpy()
    assert np.max(np.abs(got - np.asarray(model(x)))) < 1e-5


def test_a_flax_model_reads_as_its_msgpack_state_saved(tmp_path: Path, run_cli: Callable[..., Any]) -> None:
    nnx = pytest.importorskip("flax.nnx")
    serialization = pytest.importorskip("flax.serialization")

    class Tagger(nnx.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            rngs = nnx.Rngs(0)
            self.embed = nnx.Embed(50, 8, rngs=rngs)
            self.encoder = nnx.RNN(nnx.LSTMCell(8, 16, rngs=rngs))
            self.head = nnx.Linear(16, 5, rngs=rngs)

    model = Tagger()
    path = tmp_path / "tagger.msgpack"
    path.write_bytes(serialization.msgpack_serialize(nnx.to_pure_dict(nnx.state(model, nnx.Param))))
    same_but_own_facts(rnncalc.inspect(model), inspected_file(run_cli, path))


def test_a_flax_recurrent_module_under_any_attribute_is_read_from_its_attributes(tmp_path: Path) -> None:
    nnx = pytest.importorskip("flax.nnx")
    jax = pytest.importorskip("jax")
    jnp = jax.numpy

    class Tagger(nnx.Module):  # type: ignore[misc,name-defined]
        def __init__(self, merge: Any) -> None:
            rngs = nnx.Rngs(0)
            self.encoder = nnx.Bidirectional(
                nnx.RNN(nnx.GRUCell(3, 4, rngs=rngs)), nnx.RNN(nnx.GRUCell(3, 4, rngs=rngs)), merge_fn=merge
            )
            self.head = nnx.Linear(4, 2, rngs=rngs)

    tagger = Tagger(jnp.add)
    document = rnncalc.inspect(tagger)
    (layer,) = document["recurrent"]
    assert layer["prefix"] == "encoder" and layer["spec"]["merge_mode"] == "sum"
    assert layer["spec"]["cell"] == "gru" and layer["spec"]["hidden_size"] == 4
    counted = [
        sum(leaf.size for leaf in jax.tree.leaves(nnx.state(m, nnx.Param)))
        for m in (tagger.encoder, tagger.head)
    ]
    assert (layer["params"], document["other_params"]) == tuple(counted)
    document = rnncalc.inspect(Tagger(lambda forward, backward: forward - backward))
    assert document["recurrent"] == [] and "merge_fn '<lambda>'" in document["notes"][0]

    class Encoder(nnx.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            self.lstm = nnx.RNN(nnx.LSTMCell(3, 4, rngs=nnx.Rngs(1)))

    model = Encoder()
    rnncalc.convert(model, tmp_path / "lstm.pt")
    module = nn.LSTM(3, 4, batch_first=True)
    module.load_state_dict(torch.load(tmp_path / "lstm.pt"), strict=True)
    x = np.random.default_rng(4).standard_normal((2, 5, 3)).astype(np.float32)
    got = module(torch.from_numpy(x))[0].detach().numpy()
    assert np.max(np.abs(got - np.asarray(model.lstm(x)))) < 1e-5


def test_an_onnx_model_exported_from_torch_reads_and_converts_as_its_file(
    tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    onnx = pytest.importorskip("onnx")
    torch.manual_seed(3)
    module = nn.LSTM(3, 5, batch_first=True)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(2, 4, 3),), buffer, dynamo=False)
    model = onnx.load_from_string(buffer.getvalue())
    onnx.save(model, tmp_path / "lstm.onnx")
    live = rnncalc.inspect(model)
    same_but_own_facts(live, inspected_file(run_cli, tmp_path / "lstm.onnx"))
    assert live["format"] == "onnx.ModelProto"

    rnncalc.convert(model, tmp_path / "lstm.pt")
    back = nn.LSTM(3, 5, batch_first=True)
    back.load_state_dict(torch.load(tmp_path / "lstm.pt"), strict=True)
    x = torch.from_numpy(np.random.default_rng(3).standard_normal((2, 6, 3)).astype(np.float32))
    assert torch.max(torch.abs(back(x)[0] - module(x)[0])).item() < 1e-5


@pytest.mark.parametrize("bad", [42, {"weight_ih_l0": 1}, "torch-tensor"], ids=["int", "dict", "tensor"])
def test_anything_else_is_refused_naming_its_type(bad: Any) -> None:
    value = torch.zeros(3) if bad == "torch-tensor" else bad
    expected = "torch.Tensor" if bad == "torch-tensor" else type(bad).__name__
    with pytest.raises(TypeError, match=rf"not {expected}$"):
        rnncalc.inspect(value)
    with pytest.raises(TypeError, match=rf"not {expected}$"):
        rnncalc.convert(value, "unused.pt")


def test_inspecting_a_torch_module_imports_no_other_framework() -> None:
    code = (
        "import sys, torch, rnncalc\n"
        "document = rnncalc.inspect(torch.nn.LSTM(3, 4))\n"
        "assert document['total_params'] == 144, document['total_params']\n"
        "others = {'keras', 'tensorflow', 'jax', 'flax', 'onnx'}\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & others)\n"
        "print(loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_rnncalc_inspect_is_the_function_after_its_subpackage_is_imported(tmp_path: Path) -> None:
    import importlib

    # Importing a subpackage sets rnncalc.inspect (rnncalc.convert) to it: it stays callable.
    formats = importlib.import_module("rnncalc.inspect.formats")
    importlib.import_module("rnncalc.convert.plan")
    assert getattr(rnncalc, "inspect").formats is formats  # noqa: B009 (the attribute, not the API)
    assert rnncalc.inspect(nn.GRU(2, 3))["total_params"] == 9 * 2 + 9 * 3 + 2 * 9
    assert rnncalc.convert(nn.GRU(2, 3), tmp_path / "gru.pt")["tensors"] == 4


def test_show_displays_the_inspection_every_convention_and_the_diagram() -> None:
    tagger = Tagger()
    page = rnncalc.show(tagger)._repr_html_()
    assert "&lt;Tagger&gt;: torch.nn.Module, " in page
    assert page.count("<table") == 2 * 4 and page.count("<svg") == 1
    lstm = sum(p.numel() for p in tagger.lstm.parameters())
    # Keras keeps one bias of 4 gates × 16 per layer and direction where PyTorch keeps two.
    assert f"PyTorch {lstm:,} vs Keras {lstm - 2 * 2 * 4 * 16:,}" in rnncalc.show(tagger).text()
    plain = rnncalc.show(nn.Linear(3, 4))
    assert "No recurrent layer found." in plain.text() and "<svg" not in plain._repr_html_()


def test_the_magic_takes_a_variable_where_inspect_and_convert_take_a_file(
    tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    shell_module = pytest.importorskip("IPython.core.interactiveshell")
    shell = shell_module.InteractiveShell.instance()
    shell.run_line_magic("load_ext", "rnncalc")
    module = nn.LSTM(3, 4)
    shell.user_ns["model"] = module
    shown = shell.run_line_magic("rnncalc", "inspect model -f json")
    assert shown.exit_code == 0 and json.loads(shown.stdout) == rnncalc.inspect(module)
    written = shell.run_line_magic("rnncalc", f"convert model -o {tmp_path / 'm.safetensors'} --no-verify")
    assert written.exit_code == 0, written.stderr
    torch.save(module.state_dict(), tmp_path / "m.pt")
    assert run_cli("convert", str(tmp_path / "m.pt"), "-o", str(tmp_path / "f.safetensors")).exit_code == 0
    assert (tmp_path / "m.safetensors").read_bytes() == (tmp_path / "f.safetensors").read_bytes()
    missing = shell.run_line_magic("rnncalc", "inspect no_such_name")
    assert missing.exit_code == 2 and "no_such_name: no such file" in missing.stderr


def test_the_readme_notebook_example_of_a_live_model_runs() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    (block,) = [b for b in readme.split("```python\n")[1:] if "class Tagger" in b]
    code = "\n".join(line for line in block.split("```")[0].splitlines() if not line.startswith("%"))
    namespace: dict[str, Any] = {"rnncalc": rnncalc}
    exec(code, namespace)  # the README's own lines, rnncalc.show(model) among them
    shown = rnncalc.show(namespace["model"])
    assert shown.inspection is not None and len(shown.document["frameworks"]) == 4
