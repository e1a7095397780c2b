"""Models with layer norms, dropout and dense layers between and after the recurrent blocks,
against the real frameworks built here by hand (not by rnncalc's adapters): PyTorch modules,
Keras layers, Flax NNX modules and an ONNX LayerNormalization graph. Every layer's parameter
count, weight shapes and output shape, and the total, are compared with ``summary --format
json``; the real outputs are computed on real inputs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

BATCH, SEQ = 2, 5

MODELS: dict[str, dict[str, Any]] = {
    # embedding → BiLSTM → LayerNorm → Dropout → GRU → per-step Dense(relu)
    "tagger": {
        "embedding": {"vocab_size": 50, "dim": 8},
        "layers": [
            {"cell": "lstm", "hidden_size": 6, "bidirectional": True},
            {"kind": "layer_norm"},
            {"kind": "dropout", "rate": 0.2},
            {"cell": "gru", "hidden_size": 5},
        ],
        "dense": [{"units": 4, "activation": "relu", "per_step": True}],
    },
    # features → BiGRU → LayerNorm without bias → Dropout → Dense on the last step → Dropout → Dense
    "classifier-last-step": {
        "layers": [
            {"cell": "gru", "hidden_size": 6, "input_size": 3, "bidirectional": True},
            {"kind": "layer_norm", "bias": False, "epsilon": 1e-3},
        ],
        "dense": [
            {"kind": "dropout", "rate": 0.5},
            {"units": 7, "activation": "tanh", "per_step": False},
            {"kind": "dropout"},
            {"units": 2, "activation": "softmax", "bias": False},
        ],
    },
    # LayerNorm on the input → 2-layer LSTM → Dense(gelu) between blocks → RNN → per-step head
    "dense-between-blocks": {
        "batch_first": True,
        "layers": [
            {"kind": "layer_norm"},
            {"cell": "lstm", "hidden_size": 4, "input_size": 3, "num_layers": 2},
            {"kind": "dense", "units": 5, "activation": "gelu"},
            {"cell": "rnn", "hidden_size": 3},
        ],
        "dense": [{"units": 2, "per_step": True}],
    },
}


def _report(run_cli: Callable[..., Any], tmp_path: Path, name: str) -> dict[str, Any]:
    path = tmp_path / "model.json"
    path.write_text(json.dumps({**MODELS[name], "batch_size": BATCH, "seq_len": SEQ}), encoding="utf-8")
    result = run_cli("summary", str(path), "--format", "json", "--frameworks", "torch,keras,flax,onnx")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _chain(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The parts in order, each with its ``kind``."""
    parts = [{"kind": "embedding", **config["embedding"]}] if "embedding" in config else []
    parts += [{"kind": "recurrent", **layer} if "cell" in layer else layer for layer in config["layers"]]
    parts += [{"kind": "dense", **head} if "kind" not in head else head for head in config.get("dense", [])]
    return parts


def _last_step_after(parts: list[dict[str, Any]]) -> int | None:
    """The index of the last recurrent part when a head takes the last step only."""
    last = max(i for i, part in enumerate(parts) if part["kind"] == "recurrent")
    tail = parts[last:]
    return last if any(part.get("per_step") is False for part in tail) else None


# --- PyTorch --------------------------------------------------------------------------------------


def _torch(config: dict[str, Any]) -> tuple[list[Any], list[list[int]]]:
    """The PyTorch modules of the chain and each one's output shape on a real input."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    parts = _chain(config)
    batch_first = config.get("batch_first", False)
    classes = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
    activations = {"relu": torch.relu, "tanh": torch.tanh, "gelu": nn.functional.gelu}
    activations["softmax"] = lambda x: torch.softmax(x, dim=-1)
    modules: list[Any] = []
    features = config["embedding"]["dim"] if "embedding" in config else features_in(config)
    for part in parts:
        kind = part["kind"]
        if kind == "embedding":
            modules.append(nn.Embedding(part["vocab_size"], part["dim"]))
            features = part["dim"]
        elif kind == "recurrent":
            bi = part.get("bidirectional", False)
            modules.append(
                classes[part["cell"]](
                    features,
                    part["hidden_size"],
                    num_layers=part.get("num_layers", 1),
                    bidirectional=bi,
                    batch_first=batch_first,
                )
            )
            features = part["hidden_size"] * (2 if bi else 1)
        elif kind == "layer_norm":
            affine = part.get("scale", True) or part.get("bias", True)
            modules.append(
                nn.LayerNorm(
                    features,
                    part.get("epsilon", 1e-5),
                    elementwise_affine=affine,
                    bias=part.get("bias", True),
                )
            )
        elif kind == "dropout":
            modules.append(nn.Dropout(part.get("rate", 0.5)))
        else:
            modules.append(nn.Linear(features, part["units"], bias=part.get("bias", True)))
            features = part["units"]
    last_step = _last_step_after(parts)
    lead = (BATCH, SEQ) if batch_first else (SEQ, BATCH)
    torch.manual_seed(0)
    x = torch.randint(0, 9, lead) if "embedding" in config else torch.randn(*lead, features_in(config))
    shapes = []
    with torch.no_grad():
        for index, (module, part) in enumerate(zip(modules, parts, strict=True)):
            module.eval()
            x = module(x)
            if isinstance(x, tuple):
                x = x[0]
            if index == last_step:
                x = x.select(1 if batch_first else 0, -1)
            if part.get("activation"):
                x = activations[part["activation"]](x)
            shapes.append(list(x.shape))
    return modules, shapes


def features_in(config: dict[str, Any]) -> int:
    return next(layer["input_size"] for layer in config["layers"] if "input_size" in layer)  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_pytorch_modules_hold_the_reported_weights_and_return_the_reported_shapes(
    run_cli: Callable[..., Any], tmp_path: Path, name: str
) -> None:
    modules, shapes = _torch(MODELS[name])
    report = _report(run_cli, tmp_path, name)["frameworks"]["torch"]
    assert len(report["layers"]) == len(modules)
    for index, (layer, module) in enumerate(zip(report["layers"], modules, strict=True)):
        real = [(f"{index}.{path}", list(p.shape)) for path, p in module.named_parameters()]
        assert [(w["path"], w["shape"]) for w in layer["weights"]] == real
        assert layer["params"] == sum(p.numel() for p in module.parameters())
        assert layer["type"].split(" ")[0] == type(module).__name__
        assert layer["output_shape"] == shapes[index]
    assert report["total_params"] == sum(p.numel() for m in modules for p in m.parameters())
    assert report["outputs"] == {"output": shapes[-1]}


def test_the_dropout_is_counted_as_zero_and_kept_in_the_chain(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    document = _report(run_cli, tmp_path, "tagger")
    for key, kind in {"torch": "Dropout", "keras": "Dropout", "flax": "Dropout", "onnx": "Dropout"}.items():
        dropout = [layer for layer in document["frameworks"][key]["layers"] if layer["type"] == kind]
        assert len(dropout) == 1 and dropout[0]["params"] == 0 and dropout[0]["weights"] == []
    assert [part["kind"] for part in document["model"]["parts"]] == [
        "embedding",
        "recurrent",
        "layer_norm",
        "dropout",
        "recurrent",
        "dense",
    ]


# --- Keras -----------------------------------------------------------------------------------------


def _keras(config: dict[str, Any]) -> tuple[Any, list[Any]]:
    """The Keras layers of the chain, called in order on an Input, and the model."""
    keras = pytest.importorskip("keras")
    layers = keras.layers
    parts = _chain(config)
    last = max(i for i, part in enumerate(parts) if part["kind"] == "recurrent")
    sequences_after = any(part.get("per_step") is True for part in parts[last:])
    classes = {"rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}
    if "embedding" in config:
        x = inputs = keras.Input(batch_shape=(BATCH, SEQ), dtype="int32")
    else:
        x = inputs = keras.Input(batch_shape=(BATCH, SEQ, features_in(config)))
    built = []
    for index, part in enumerate(parts):
        kind = part["kind"]
        if kind == "embedding":
            chain = [layers.Embedding(part["vocab_size"], part["dim"])]
        elif kind == "recurrent":
            chain = []
            for k in range(part.get("num_layers", 1)):
                final = index == last and k == part.get("num_layers", 1) - 1
                layer = classes[part["cell"]](
                    part["hidden_size"], return_sequences=not final or sequences_after
                )
                chain.append(layers.Bidirectional(layer) if part.get("bidirectional") else layer)
        elif kind == "layer_norm":
            chain = [
                layers.LayerNormalization(
                    epsilon=part.get("epsilon", 1e-5),
                    center=part.get("bias", True),
                    scale=part.get("scale", True),
                )
            ]
        elif kind == "dropout":
            chain = [layers.Dropout(part.get("rate", 0.5))]
        else:
            chain = [
                layers.Dense(
                    part["units"], use_bias=part.get("bias", True), activation=part.get("activation")
                )
            ]
        for layer in chain:
            x = layer(x)
            built.append(layer)
    return keras.Model(inputs, x), built


@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_layers_hold_the_reported_weights_and_return_the_reported_shapes(
    run_cli: Callable[..., Any], tmp_path: Path, name: str
) -> None:
    model, built = _keras(MODELS[name])
    report = _report(run_cli, tmp_path, name)["frameworks"]["keras"]
    assert len(report["layers"]) == len(built)
    for layer, real in zip(report["layers"], built, strict=True):
        assert layer["type"].split("(")[0] == type(real).__name__
        assert layer["params"] == real.count_params()
        assert [(w["name"], w["shape"]) for w in layer["weights"]] == [
            (w.path.split("/")[-1], list(w.shape)) for w in real.weights
        ]
        assert layer["output_shape"] == list(real.output.shape)
    assert report["total_params"] == model.count_params()
    assert report["outputs"] == {"output": list(model.output.shape)}


# --- Flax NNX --------------------------------------------------------------------------------------


def _flax(config: dict[str, Any]) -> tuple[list[Any], list[list[int]]]:
    """One NNX module per layer (a stacked block is one per layer) and each one's output shape."""
    pytest.importorskip("flax")
    import jax
    import jax.numpy as jnp
    from flax import nnx

    rngs = nnx.Rngs(0)
    parts = _chain(config)
    cells = {"rnn": nnx.SimpleCell, "lstm": nnx.LSTMCell, "gru": nnx.GRUCell}
    last_step = _last_step_after(parts)
    features = config["embedding"]["dim"] if "embedding" in config else features_in(config)
    modules: list[tuple[Any, dict[str, Any], bool]] = []  # module, part, last step after it
    for index, part in enumerate(parts):
        kind = part["kind"]
        if kind == "embedding":
            modules.append((nnx.Embed(part["vocab_size"], part["dim"], rngs=rngs), part, False))
        elif kind == "recurrent":
            for k in range(part.get("num_layers", 1)):

                def rnn(size: int = features, part: dict[str, Any] = part) -> Any:
                    return nnx.RNN(cells[part["cell"]](size, part["hidden_size"], rngs=rngs))

                layer = nnx.Bidirectional(rnn(), rnn()) if part.get("bidirectional") else rnn()
                final = index == last_step and k == part.get("num_layers", 1) - 1
                modules.append((layer, part, final))
                features = part["hidden_size"] * (2 if part.get("bidirectional") else 1)
        elif kind == "layer_norm":
            norm = nnx.LayerNorm(
                features, use_bias=part.get("bias", True), use_scale=part.get("scale", True), rngs=rngs
            )
            modules.append((norm, part, False))
        elif kind == "dropout":
            modules.append((nnx.Dropout(part.get("rate", 0.5), deterministic=True), part, False))
        else:
            modules.append(
                (nnx.Linear(features, part["units"], use_bias=part.get("bias", True), rngs=rngs), part, False)
            )
            features = part["units"]
    x = (
        jnp.zeros((BATCH, SEQ), jnp.int32)
        if "embedding" in config
        else jnp.ones((BATCH, SEQ, features_in(config)))
    )
    shapes = []
    for module, part, final in modules:
        x = module(x)
        if final:
            x = x[:, -1]
        if part.get("activation") == "relu":
            x = jax.nn.relu(x)
        shapes.append(list(x.shape))
    return [module for module, _, _ in modules], shapes


def test_flax_modules_hold_the_reported_weights_and_return_the_reported_shapes(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    _check_flax(run_cli, tmp_path, "tagger")


@pytest.mark.slow  # Flax compiles every nnx.RNN on its first call: seconds per layer
@pytest.mark.parametrize("name", sorted(set(MODELS) - {"tagger"}))
def test_flax_modules_of_every_model_hold_the_reported_weights(
    run_cli: Callable[..., Any], tmp_path: Path, name: str
) -> None:
    _check_flax(run_cli, tmp_path, name)


def _check_flax(run_cli: Callable[..., Any], tmp_path: Path, name: str) -> None:
    import jax
    from flax import nnx

    modules, shapes = _flax(MODELS[name])
    report = _report(run_cli, tmp_path, name)["frameworks"]["flax"]
    assert len(report["layers"]) == len(modules)
    total = 0
    for layer, module, shape in zip(report["layers"], modules, shapes, strict=True):
        params = sum(leaf.size for leaf in jax.tree.leaves(nnx.state(module, nnx.Param)))
        assert layer["params"] == params
        total += params
        if not layer["type"].startswith(("RNN", "Bidirectional")):  # cells name their weights apart
            flat = nnx.to_flat_state(nnx.state(module, nnx.Param))
            real = sorted((f"{layer['name']}." + ".".join(map(str, path)), list(v.shape)) for path, v in flat)
            assert sorted((w["path"], w["shape"]) for w in layer["weights"]) == real
        assert layer["output_shape"] == shape
    assert report["total_params"] == total
    assert report["outputs"] == {"output": shapes[-1]}


# --- ONNX --------------------------------------------------------------------------------------------


def test_onnx_counts_a_layer_normalization_by_its_scale_and_bias_initializers(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    """The report's LayerNormalization rows, as initializers of a graph built here, pass
    onnx.checker and run in onnxruntime; the count is the initializers' total size."""
    pytest.importorskip("onnxruntime")
    import numpy as np
    import onnx
    import onnxruntime
    from onnx import helper, numpy_helper

    report = _report(run_cli, tmp_path, "tagger")["frameworks"]["onnx"]
    (norm,) = [layer for layer in report["layers"] if layer["type"] == "LayerNormalization"]
    features = norm["output_shape"][-1]
    initializers = [
        numpy_helper.from_array(np.full(w["shape"], 0.5, np.float32), w["path"]) for w in norm["weights"]
    ]
    node = helper.make_node(
        "LayerNormalization", ["X", *(w["path"] for w in norm["weights"])], ["Y"], axis=-1, epsilon=1e-5
    )
    shape = [SEQ, BATCH, features]
    graph = helper.make_graph(
        [node],
        "norm",
        [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, shape)],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"X": np.random.default_rng(0).normal(size=shape).astype(np.float32)})
    assert list(y.shape) == norm["output_shape"]
    assert [w["name"] for w in norm["weights"]] == ["Scale", "B"]
    assert norm["params"] == sum(math.prod(init.dims) for init in initializers) == 2 * features


# --- The adapters: `rnncalc check` builds the real models with the new parts ---------------------


def test_check_builds_every_framework_and_they_agree(run_cli: Callable[..., Any], tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    pytest.importorskip("flax")
    pytest.importorskip("onnxruntime")
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"models": [{"name": name, **config} for name, config in MODELS.items()]}))
    result = run_cli("check", str(path), "--against", "torch,keras,flax,onnx", "--format", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    for model in document["models"]:
        for framework, entry in model["frameworks"].items():
            crosscheck = entry["crosscheck"]
            assert crosscheck is not None and crosscheck["ok"], (model["name"], framework, crosscheck)


# --- The last step: each direction's own, as Keras's Bidirectional returns it -------------------


def test_the_pytorch_adapter_hands_on_each_directions_final_state_and_applies_the_activations() -> None:
    """rnncalc's PyTorch model of ``classifier-last-step`` against the same modules run by hand:
    after the BiGRU only ``h_n`` goes on (forward and backward final states, Keras's
    ``Bidirectional`` without sequences), and the heads' tanh and softmax are applied."""
    torch = pytest.importorskip("torch")
    from rnncalc.frameworks.torch import build_model
    from rnncalc.io.config import ModelEntry, read_text

    (entry,) = read_text("m.json", json.dumps(MODELS["classifier-last-step"]), "json")
    assert isinstance(entry, ModelEntry)
    built = build_model(entry.model)
    modules, _ = _torch(MODELS["classifier-last-step"])
    torch.manual_seed(1)
    for module in modules:
        for parameter in module.parameters():
            parameter.data.normal_()
    built.load_state_dict(
        {f"{i}.{name}": p for i, m in enumerate(modules) for name, p in m.state_dict().items()}
    )
    gru, norm, _, head, _, out = modules
    x = torch.randn(SEQ, BATCH, 3)
    with torch.no_grad():
        _, h_n = gru(x)
        last = torch.cat([h_n[0], h_n[1]], dim=-1)  # forward's final state, backward's final state
        expected = torch.softmax(out(torch.tanh(head(norm(last)))), dim=-1)
        got = built(x)
    assert got.shape == (BATCH, 2)
    torch.testing.assert_close(got, expected)


def test_the_flax_model_hands_on_each_directions_final_carry() -> None:
    """The Flax adapter's SequenceModel takes the last step of a bidirectional layer as its two
    final carries (what ``nnx.Bidirectional(return_carry=True)`` returns), then the activation."""
    pytest.importorskip("flax")
    import jax
    import numpy as np
    from flax import nnx

    from rnncalc.frameworks.flax import _model_class

    rngs = nnx.Rngs(0)
    bidirectional = nnx.Bidirectional(
        nnx.RNN(nnx.GRUCell(3, 4, rngs=rngs)), nnx.RNN(nnx.GRUCell(3, 4, rngs=rngs))
    )
    head = nnx.Linear(8, 2, rngs=rngs)
    model = _model_class()([bidirectional, head], {1: "tanh"}, 0, 2)
    x = jax.random.normal(jax.random.key(1), (BATCH, SEQ, 3))
    (forward, backward), _ = bidirectional(x, return_carry=True)
    expected = np.tanh(head(np.concatenate([forward, backward], axis=-1)))
    np.testing.assert_allclose(model(x), expected, rtol=1e-6, atol=1e-6)
