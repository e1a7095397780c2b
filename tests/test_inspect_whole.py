"""``rnncalc inspect`` describes the whole model: the chain of parts (embedding, recurrent blocks,
layer norms, dense layers) found in files the real frameworks write, every part counted as the
framework itself counts it, and the config file ``-f yaml|toml|json`` writes, which ``rnncalc
summary`` reads back to the same totals.

Every expected number comes from the real framework: ``sum(p.numel())`` of the PyTorch module
(and of each submodule), Keras ``count_params()`` (of the model and of each layer), the sizes of
``nnx.state(model, nnx.Param)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

import rnncalc

torch = pytest.importorskip("torch")
nn = torch.nn


def _numel(module: Any) -> int:
    return sum(value.numel() for value in module.state_dict().values())


def _document(run_cli: Callable[..., Result], path: Path) -> Any:
    result = run_cli("inspect", str(path), "-f", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _round_trip(run_cli: Callable[..., Result], path: Path, fmt: str, tmp_path: Path) -> list[Any]:
    """``inspect FILE -f FMT > model.FMT && summary model.FMT``: the summary's documents."""
    result = run_cli("inspect", str(path), "-f", fmt)
    assert result.exit_code == 0, result.stderr
    config = tmp_path / f"{path.stem}-model.{fmt}"
    config.write_text(result.stdout)
    summary = run_cli("summary", str(config), "-F", "all", "-f", "json")
    assert summary.exit_code == 0, summary.stderr
    found = json.loads(summary.stdout)
    return found if isinstance(found, list) else [found]


class Tagger(nn.Module):  # type: ignore[misc,name-defined]
    """Embedding → bidirectional LSTM → LayerNorm → Dropout → Linear at every step."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(50, 6)
        self.lstm = nn.LSTM(6, 5, batch_first=True, bidirectional=True)
        self.norm = nn.LayerNorm(10)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(10, 4)

    def forward(self, x: Any) -> Any:
        y, _ = self.lstm(self.embedding(x))
        return self.head(self.drop(self.norm(y)))


class Classifier(nn.Module):  # type: ignore[misc,name-defined]
    """Embedding → 2-layer GRU → Linear on the last step."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(30, 4)
        self.gru = nn.GRU(4, 7, num_layers=2, batch_first=True)
        self.out = nn.Linear(7, 3)

    def forward(self, x: Any) -> Any:
        y, _ = self.gru(self.embed(x))
        return self.out(y[:, -1])


class Encoder(nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(40, 6)
        self.rnn = nn.GRU(6, 8, batch_first=True)


class Decoder(nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(45, 6)
        self.rnn = nn.LSTM(6, 8, batch_first=True)
        self.out = nn.Linear(8, 45)


class Seq2Seq(nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        super().__init__()
        self.encoder = Encoder()
        self.decoder = Decoder()


@pytest.mark.parametrize("save", ["pt", "safetensors"])
def test_a_torch_tagger_is_one_chain_each_part_counted_as_its_module(
    tmp_path: Path, run_cli: Callable[..., Result], save: str
) -> None:
    torch.manual_seed(0)
    model = Tagger()
    path = tmp_path / f"tagger.{save}"
    if save == "pt":
        torch.save(model.state_dict(), path)
    else:
        from safetensors.torch import save_file

        save_file(model.state_dict(), path)
    document = _document(run_cli, path)
    [chain] = document["chains"]
    parts = [(part["name"], part["kind"], part["params"]) for part in chain["parts"]]
    # nn.Dropout holds no tensor: a state dict cannot show it (said in the notes' assumptions).
    assert parts == [
        ("embedding", "embedding", _numel(model.embedding)),
        ("lstm", "recurrent", _numel(model.lstm)),
        ("norm", "layer_norm", _numel(model.norm)),
        ("head", "dense", _numel(model.head)),
    ]
    assert all(part["conventions"]["torch"] == part["params"] for part in chain["parts"])
    assert chain["conventions"]["torch"] == chain["params"] == _numel(model) == document["total_params"]
    assert document["unplaced"] == [] and document["unplaced_notes"] == []
    assert any("per_step is left unset" in note for note in chain["notes"])
    assert any("two bias vectors" in line for line in chain["differences"])
    # The document's older keys are still there, unchanged in meaning.
    assert [layer["prefix"] for layer in document["recurrent"]] == ["lstm"]
    assert document["other_params"] == _numel(model) - _numel(model.lstm)


def test_the_keras_count_of_a_torch_chain_is_that_of_the_same_model_built_in_keras(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    keras = pytest.importorskip("rnncalc.frameworks.keras").keras
    layers = keras.layers
    torch.manual_seed(0)
    path = tmp_path / "tagger.pt"
    torch.save(Tagger().state_dict(), path)
    built = keras.Sequential(
        [
            keras.Input((7,), dtype="int32"),
            layers.Embedding(50, 6),
            layers.Bidirectional(layers.LSTM(5, return_sequences=True)),
            layers.LayerNormalization(),
            layers.Dropout(0.1),
            layers.Dense(4),
        ]
    )
    [chain] = _document(run_cli, path)["chains"]
    assert chain["conventions"]["keras"] == built.count_params()
    [summary] = _round_trip(run_cli, path, "yaml", tmp_path)
    assert summary["frameworks"]["keras"]["total_params"] == built.count_params()


@pytest.mark.parametrize("fmt", ["yaml", "toml", "json"])
def test_the_config_file_inspect_writes_is_read_back_by_summary_with_the_files_counts(
    tmp_path: Path, run_cli: Callable[..., Result], fmt: str
) -> None:
    torch.manual_seed(0)
    model = Classifier()
    path = tmp_path / "classifier.pt"
    torch.save(model.state_dict(), path)
    [summary] = _round_trip(run_cli, path, fmt, tmp_path)
    assert summary["frameworks"]["torch"]["total_params"] == _numel(model)
    chain = [part["kind"] for part in summary["model"]["parts"]] if "parts" in summary["model"] else None
    assert summary["model"]["embedding"] == {"vocab_size": 30, "dim": 4}
    assert [layer["hidden_size"] for layer in summary["model"]["layers"]] == [7]
    assert summary["model"]["layers"][0]["num_layers"] == 2
    assert [head["units"] for head in summary["model"]["dense"]] == [3]
    assert chain in (None, ["embedding", "recurrent", "dense"])


def test_the_config_file_names_the_source_file_and_its_tensors(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    import yaml

    torch.manual_seed(0)
    model = Classifier()
    path = tmp_path / "classifier.pt"
    torch.save(model.state_dict(), path)
    result = run_cli("inspect", str(path), "-f", "yaml")
    [entry] = yaml.safe_load(result.stdout)["models"]
    source = entry["source"]
    assert (source["file"], source["format"], source["convention"]) == (
        str(path),
        "pytorch state dict",
        "torch",
    )
    state = model.state_dict()
    assert {tensor["name"]: tensor["shape"] for tensor in source["tensors"]} == {
        name: list(value.shape) for name, value in state.items()
    }
    assert {tensor["dtype"] for tensor in source["tensors"]} == {"float32"}


def test_a_seq2seq_checkpoint_holds_an_encoder_and_a_decoder_chain_by_prefix(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    torch.manual_seed(0)
    model = Seq2Seq()
    path = tmp_path / "seq2seq.pt"
    torch.save({"epoch": 3, "model_state_dict": model.state_dict()}, path)  # a training checkpoint
    document = _document(run_cli, path)
    chains = {chain["name"]: chain for chain in document["chains"]}
    assert {name: chain["prefix"] for name, chain in chains.items()} == {
        "encoder": "encoder.",
        "decoder": "decoder.",
    }
    assert [p["kind"] for p in chains["encoder"]["parts"]] == ["embedding", "recurrent"]
    assert [p["kind"] for p in chains["decoder"]["parts"]] == ["embedding", "recurrent", "dense"]
    for name, chain in chains.items():
        module = getattr(model, name)
        assert chain["params"] == chain["conventions"]["torch"] == _numel(module)
        assert all(tensor.startswith(f"{name}.") for part in chain["parts"] for tensor in part["tensors"])
    summaries = _round_trip(run_cli, path, "yaml", tmp_path)
    assert {s["name"]: s["frameworks"]["torch"]["total_params"] for s in summaries} == {
        "encoder": _numel(model.encoder),
        "decoder": _numel(model.decoder),
    }


def test_a_second_head_on_the_same_block_is_named_not_dropped(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    heads = nn.ModuleDict({"rnn": nn.LSTM(4, 8), "tags": nn.Linear(8, 3), "score": nn.Linear(8, 1)})
    path = tmp_path / "two_heads.pt"
    torch.save(heads.state_dict(), path)
    document = _document(run_cli, path)
    [chain] = document["chains"]
    assert [part["name"] for part in chain["parts"]] == ["rnn", "tags"]
    assert document["unplaced"] == ["score.weight", "score.bias"]
    assert document["unplaced_notes"] == [
        "score (score.weight 1×8, score.bias 1) takes the 8 features rnn hands on, beside tags: "
        "a second branch, which a chain (one path) does not hold"
    ]
    text = run_cli("inspect", str(path)).stdout
    assert "Other tensors: 9 parameters" in text and "score.weight" in text


def test_a_file_without_a_recurrent_layer_is_refused_as_a_config_in_one_line(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    path = tmp_path / "linear.pt"
    torch.save(nn.Linear(3, 2).state_dict(), path)
    result = run_cli("inspect", str(path), "-f", "yaml")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and str(path) in result.stderr
    assert "no model to write" in result.stderr


def test_a_keras_model_is_one_chain_in_its_layers_order_each_part_its_layers_count(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    keras = pytest.importorskip("rnncalc.frameworks.keras").keras
    layers = keras.layers
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((7,), dtype="int32"),
            layers.Embedding(60, 6, name="embed"),
            layers.Bidirectional(layers.LSTM(5, return_sequences=True), name="encoder"),
            layers.LayerNormalization(name="norm"),
            layers.Dropout(0.2, name="drop"),
            layers.TimeDistributed(layers.Dense(4, activation="softmax"), name="tags"),
        ]
    )
    names = ["embed", "encoder", "norm", "drop", "tags"]
    kinds = ["embedding", "recurrent", "layer_norm", "dropout", "dense"]
    for suffix in ("keras", "h5"):
        path = tmp_path / f"tagger.{suffix}"
        model.save(path)
        [chain] = _document(run_cli, path)["chains"]
        assert [part["name"] for part in chain["parts"]] == names
        assert [part["kind"] for part in chain["parts"]] == kinds
        counts = [model.get_layer(name).count_params() for name in names]
        assert [part["params"] for part in chain["parts"]] == counts
        assert chain["conventions"]["keras"] == model.count_params()
        # The config records what the weights cannot: epsilon, the rate, a per-step head's activation.
        parts = chain["model"]["layers"]
        assert parts[1] == {"kind": "layer_norm", "epsilon": 0.001, "scale": True, "bias": True}
        assert parts[2] == {"kind": "dropout", "rate": 0.2}
        head = {"kind": "dense", "units": 4, "bias": True, "activation": "softmax", "per_step": True}
        assert parts[3] == head
        assert not any("per_step is left unset" in note for note in chain["notes"])
        [summary] = _round_trip(run_cli, path, "yaml", tmp_path)
        assert summary["frameworks"]["keras"]["total_params"] == model.count_params()
    live = rnncalc.inspect(model)["chains"][0]  # a model in memory reads as its .keras file
    assert [part["kind"] for part in live["parts"]] == kinds
    assert live["conventions"]["keras"] == model.count_params()


def test_a_flax_state_is_one_chain_ordered_by_its_shapes(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    pytest.importorskip("flax")
    import jax
    from flax import nnx, serialization

    class Tagger(nnx.Module):  # type: ignore[misc]
        def __init__(self, rngs: Any) -> None:
            self.embed = nnx.Embed(40, 6, rngs=rngs)
            self.rnn = nnx.RNN(nnx.LSTMCell(6, 5, rngs=rngs))
            self.norm = nnx.LayerNorm(5, rngs=rngs)
            self.head = nnx.Linear(5, 3, rngs=rngs)

    model = Tagger(nnx.Rngs(0))
    state = nnx.state(model, nnx.Param)
    path = tmp_path / "tagger.msgpack"
    path.write_bytes(serialization.msgpack_serialize(nnx.to_pure_dict(state)))
    document = _document(run_cli, path)
    [chain] = document["chains"]
    # The state's names are sorted (head before norm before rnn): the shapes give the order.
    assert [part["name"] for part in chain["parts"]] == ["embed", "rnn", "norm", "head"]
    sizes = {
        name: sum(leaf.size for leaf in jax.tree.leaves(nnx.state(getattr(model, name), nnx.Param)))
        for name in ("embed", "rnn", "norm", "head")
    }
    assert [part["params"] for part in chain["parts"]] == list(sizes.values())
    total = sum(leaf.size for leaf in jax.tree.leaves(state))
    assert chain["conventions"]["flax"] == total == document["total_params"]
    [summary] = _round_trip(run_cli, path, "toml", tmp_path)
    assert summary["frameworks"]["flax"]["total_params"] == total


@pytest.mark.parametrize("dynamo", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_an_onnx_export_is_one_chain_in_the_order_its_graph_uses_the_initializers(
    tmp_path: Path, run_cli: Callable[..., Result], dynamo: bool
) -> None:
    pytest.importorskip("onnx")
    import warnings

    torch.manual_seed(0)
    model = Tagger().eval()
    path = tmp_path / "tagger.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randint(0, 50, (2, 7)),), str(path), dynamo=dynamo)
    document = _document(run_cli, path)
    [chain] = document["chains"]
    assert [part["kind"] for part in chain["parts"]] == ["embedding", "recurrent", "layer_norm", "dense"]
    # ONNX keeps PyTorch's two LSTM bias vectors in B: every part holds its module's count.
    modules = [model.embedding, model.lstm, model.norm, model.head]
    assert [part["params"] for part in chain["parts"]] == [_numel(module) for module in modules]
    assert chain["conventions"]["onnx"] == chain["params"] == _numel(model)
    # What the exporter adds besides the weights (an initial state, a Reshape's shape) is named.
    assert sum(t["params"] for t in document["tensors"] if t["name"] in document["unplaced"]) == (
        document["total_params"] - _numel(model)
    )
    [summary] = _round_trip(run_cli, path, "yaml", tmp_path)
    assert summary["frameworks"]["onnx"]["total_params"] == _numel(model)


@pytest.mark.parametrize("fmt", ["yaml", "toml", "json"])
def test_the_config_file_inspect_writes_is_valid_against_the_shipped_schema(
    tmp_path: Path, run_cli: Callable[..., Result], fmt: str
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+, as the config reader's TOML
    import yaml

    torch.manual_seed(0)
    path = tmp_path / "seq2seq.pt"
    torch.save(Seq2Seq().state_dict(), path)
    text = run_cli("inspect", str(path), "-f", fmt).stdout
    loads = {"yaml": yaml.safe_load, "toml": tomllib.loads, "json": json.loads}[fmt]
    schema = json.loads((Path(rnncalc.__file__).parent / "schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(loads(text), schema)


def test_a_source_that_is_not_a_mapping_is_one_line_naming_the_key(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    config = tmp_path / "model.yaml"
    config.write_text("models:\n- cell: lstm\n  hidden_size: 4\n  input_size: 3\n  source: model.pt\n")
    result = run_cli("summary", str(config))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f"{config}:5" in result.stderr and "source" in result.stderr and "mapping" in result.stderr
    beside = tmp_path / "beside.yaml"
    beside.write_text("models:\n- {cell: gru, hidden_size: 2, input_size: 1}\nsoruce: {}\n")
    refused = run_cli("summary", str(beside))
    assert refused.exit_code == 2 and "soruce" in refused.stderr


def test_a_keras_dense_after_a_last_step_lstm_is_a_last_step_head(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    keras = pytest.importorskip("rnncalc.frameworks.keras").keras
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((9,), dtype="int32"),
            layers.Embedding(20, 4, name="embed"),
            layers.LSTM(6, name="lstm"),
            layers.Dropout(0.5, name="drop"),
            layers.Dense(3, activation="softmax", name="head"),
        ]
    )
    path = tmp_path / "classifier.keras"
    model.save(path)
    [chain] = _document(run_cli, path)["chains"]
    assert [part["kind"] for part in chain["parts"]] == ["embedding", "recurrent", "dropout", "dense"]
    assert chain["model"]["layers"][-1] == {
        "kind": "dense",
        "units": 3,
        "bias": True,
        "activation": "softmax",
        "per_step": False,
    }
    [summary] = _round_trip(run_cli, path, "yaml", tmp_path)
    assert summary["frameworks"]["keras"]["total_params"] == model.count_params()


def _random_tagger(seed: int) -> tuple[Any, list[tuple[str, str]]]:
    """A random torch chain (embedding or not, 1-3 recurrent blocks with norms between them,
    0-2 dense layers after), registered in chain order: the module and its (name, kind) list."""
    import random

    draw = random.Random(seed)
    modules: dict[str, Any] = {}
    expected: list[tuple[str, str]] = []
    size = draw.randint(2, 9)
    if draw.random() < 0.5:
        modules["embed"] = nn.Embedding(draw.randint(5, 40), size)
        expected.append(("embed", "embedding"))
    for block in range(draw.randint(1, 3)):
        cell = draw.choice([nn.RNN, nn.LSTM, nn.GRU])
        hidden, bidirectional = draw.randint(2, 9), draw.random() < 0.5
        modules[f"rnn{block}"] = cell(
            size, hidden, num_layers=draw.randint(1, 2), bidirectional=bidirectional
        )
        expected.append((f"rnn{block}", "recurrent"))
        size = hidden * (2 if bidirectional else 1)
        if draw.random() < 0.5:
            modules[f"norm{block}"] = nn.LayerNorm(size)
            expected.append((f"norm{block}", "layer_norm"))
    for head in range(draw.randint(0, 2)):
        units = draw.randint(1, 9)
        modules[f"head{head}"] = nn.Linear(size, units, bias=draw.random() < 0.7)
        expected.append((f"head{head}", "dense"))
        size = units
    return nn.ModuleDict(modules), expected


@pytest.mark.parametrize("seed", [0, *(pytest.param(seed, marks=pytest.mark.slow) for seed in range(1, 40))])
def test_random_torch_chains_are_found_part_by_part_with_their_counts(
    tmp_path: Path, run_cli: Callable[..., Result], seed: int
) -> None:
    torch.manual_seed(seed)
    model, expected = _random_tagger(seed)
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    document = _document(run_cli, path)
    [chain] = document["chains"]
    assert [(part["name"], part["kind"]) for part in chain["parts"]] == expected
    assert [part["params"] for part in chain["parts"]] == [_numel(model[name]) for name, _ in expected]
    assert chain["conventions"]["torch"] == _numel(model) and document["unplaced"] == []
    [summary] = _round_trip(run_cli, path, "json", tmp_path)
    assert summary["frameworks"]["torch"]["total_params"] == _numel(model)


def test_a_matrix_before_the_first_block_that_no_block_takes_is_named_not_a_chains_end(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    # An input projection without bias reads like an embedding (one matrix), but the LSTM takes
    # 5 features, not its 3: the chain starts at the LSTM and the projection is named.
    model = nn.ModuleDict(
        {"project": nn.Linear(3, 5, bias=False), "lstm": nn.LSTM(5, 4), "out": nn.Linear(4, 2)}
    )
    path = tmp_path / "projected.pt"
    torch.save(model.state_dict(), path)
    document = _document(run_cli, path)
    [chain] = document["chains"]
    assert [part["name"] for part in chain["parts"]] == ["lstm", "out"]
    assert document["unplaced"] == ["project.weight"]
    assert chain["params"] == _numel(model["lstm"]) + _numel(model["out"])
