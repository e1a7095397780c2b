"""Heterogeneous models (embedding, recurrent blocks, dense heads) against PyTorch modules built here,
and their Keras titles, layer shapes and unsupported reasons written out by hand.

The mutation run showed that a model's PyTorch report (module indices, weight paths and shapes,
layer output shapes, the returned tensor) was pinned down only by golden files and by the
cross-check through rnncalc's own adapter. Here the modules are built in the test, in a plain
``nn.ModuleList`` (so ``named_parameters`` gives ``0.weight``, ``1.weight_ih_l0`` ...), run on real
token ids or features, and every row of ``summary --format json`` is compared with them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

BATCH, SEQ = 2, 6

MODELS: dict[str, dict[str, Any]] = {
    "embedding-bilstm-x2-gru-two-heads": {
        "embedding": {"vocab_size": 50, "dim": 4},
        "layers": [
            {"cell": "lstm", "hidden_size": 3, "num_layers": 2, "bidirectional": True},
            {"cell": "gru", "hidden_size": 5},
        ],
        "dense": [{"units": 4, "activation": "relu"}, {"units": 1, "bias": False}],
    },
    "features-rnn-lstm-proj-head": {
        "layers": [
            {"cell": "rnn", "hidden_size": 4, "input_size": 3, "nonlinearity": "relu"},
            {"cell": "lstm", "hidden_size": 6, "proj_size": 2, "bidirectional": True},
        ],
        "dense": [{"units": 3}],
    },
    "features-gru-no-bias-only": {
        "layers": [{"cell": "gru", "hidden_size": 4, "input_size": 5, "bias": False, "num_layers": 3}],
        "dense": [{"units": 2}],
    },
    "batch-first-embedding-rnn": {
        "batch_first": True,
        "embedding": {"vocab_size": 9, "dim": 3},
        "layers": [{"cell": "rnn", "hidden_size": 2}],
    },
}


def build(config: dict[str, Any]) -> tuple[Any, Any]:
    """The model as PyTorch modules in a ModuleList, and its output on a real input."""
    classes = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    batch_first = config.get("batch_first", False)
    modules = []
    if "embedding" in config:
        emb = config["embedding"]
        modules.append(torch.nn.Embedding(emb["vocab_size"], emb["dim"]))
        features = emb["dim"]
    else:
        features = config["layers"][0]["input_size"]
    for layer in config["layers"]:
        kwargs = {
            "num_layers": layer.get("num_layers", 1),
            "bidirectional": layer.get("bidirectional", False),
            "bias": layer.get("bias", True),
            "batch_first": batch_first,
        }
        if "nonlinearity" in layer:
            kwargs["nonlinearity"] = layer["nonlinearity"]
        if layer.get("proj_size"):
            kwargs["proj_size"] = layer["proj_size"]
        modules.append(classes[layer["cell"]](features, layer["hidden_size"], **kwargs))
        directions = 2 if kwargs["bidirectional"] else 1
        features = directions * (layer.get("proj_size") or layer["hidden_size"])
    for head in config.get("dense", []):
        modules.append(torch.nn.Linear(features, head["units"], bias=head.get("bias", True)))
        features = head["units"]
    model = torch.nn.ModuleList(modules)
    lead = (BATCH, SEQ) if batch_first else (SEQ, BATCH)
    torch.manual_seed(0)
    x = (
        torch.randint(0, 9, lead)
        if "embedding" in config
        else torch.randn(*lead, config["layers"][0]["input_size"])
    )
    shapes = []
    with torch.no_grad():
        for module in model:
            x = module(x)
            if isinstance(x, tuple):  # a recurrent module hands on its output only
                x = x[0]
            shapes.append(list(x.shape))
    return model, shapes


def torch_report(run_cli: Callable[..., Any], tmp_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    path = tmp_path / "model.json"
    path.write_text(json.dumps({**config, "batch_size": BATCH, "seq_len": SEQ}), encoding="utf-8")
    result = run_cli("summary", str(path), "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["frameworks"]["torch"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_weight_path_and_shape_is_the_modules_own(
    run_cli: Callable[..., Any], tmp_path: Path, name: str
) -> None:
    model, _ = build(MODELS[name])
    report = torch_report(run_cli, tmp_path, MODELS[name])
    predicted = [(w["path"], w["shape"]) for layer in report["layers"] for w in layer["weights"]]
    assert predicted == [(path, list(p.shape)) for path, p in model.named_parameters()]
    for layer in report["layers"]:
        for weight in layer["weights"]:
            assert weight["path"] == f"{layer['name']}.{weight['name']}"
    assert report["total_params"] == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_layer_output_and_the_returned_tensor_have_the_real_shapes(
    run_cli: Callable[..., Any], tmp_path: Path, name: str
) -> None:
    _, shapes = build(MODELS[name])
    report = torch_report(run_cli, tmp_path, MODELS[name])
    assert [layer["output_shape"] for layer in report["layers"]] == shapes
    assert report["outputs"] == {"output": shapes[-1]}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_layer_type_names_the_module_class(
    run_cli: Callable[..., Any], tmp_path: Path, name: str
) -> None:
    model, _ = build(MODELS[name])
    report = torch_report(run_cli, tmp_path, MODELS[name])
    for layer, module in zip(report["layers"], model, strict=True):
        expected = type(module).__name__
        if getattr(module, "bidirectional", False):
            expected += " (bidirectional)"
        if getattr(module, "num_layers", 1) > 1:
            expected += f" × {module.num_layers} layers"
        assert layer["type"] == expected
    arrow = " → ".join(type(module).__name__ for module in model)
    assert report["model"] == f"nn.Module: {arrow}"


# --- the Keras side of the same models, analytically (Keras-built checks: test_keras_autonames) --


def test_a_keras_model_is_titled_by_its_layers_and_each_layer_has_its_real_output_shape(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    """Keras: Embedding (N, T, dim); all recurrent layers but the last return sequences; Dense on
    the last step. Shapes written out for batch 2 and length 6."""
    config = MODELS["embedding-bilstm-x2-gru-two-heads"]
    path = tmp_path / "model.json"
    path.write_text(json.dumps({**config, "batch_size": BATCH, "seq_len": SEQ}), encoding="utf-8")
    keras = json.loads(run_cli("summary", str(path), "--format", "json").stdout)["frameworks"]["keras"]
    assert keras["model"] == "Sequential: Embedding → Bidirectional(LSTM) → GRU → Dense → Dense"
    assert [(layer["name"], layer["type"], layer["output_shape"]) for layer in keras["layers"]] == [
        ("embedding", "Embedding", [2, 6, 4]),
        ("bidirectional", "Bidirectional(LSTM)", [2, 6, 6]),
        ("bidirectional_1", "Bidirectional(LSTM)", [2, 6, 6]),
        ("gru", "GRU", [2, 5]),
        ("dense", "Dense", [2, 4]),
        ("dense_1", "Dense", [2, 1]),
    ]
    assert keras["outputs"] == {"output": [2, 1]}


def test_a_model_with_a_projection_is_pytorch_only_and_says_which_block(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(
        "layers: [{cell: gru, hidden_size: 2, input_size: 4}, {cell: lstm, hidden_size: 3, proj_size: 2}]\n",
        encoding="utf-8",
    )
    document = json.loads(run_cli("summary", str(path), "--format", "json").stdout)
    torch_report, keras = document["frameworks"]["torch"], document["frameworks"]["keras"]
    assert torch_report["supported"] and torch_report["reason"] is None
    assert torch_report["model"] == "nn.Module: GRU → LSTM"
    assert not keras["supported"]
    assert keras["model"] == "Sequential: GRU → LSTM"
    assert keras["reason"] == "layers[1]: Keras LSTM has no projection (proj_size is PyTorch only)"
    assert document["difference"] is None
