"""Flax NNX models as people write them, saved as Flax saves them (a msgpack state, an Orbax
checkpoint), read by ``rnncalc inspect`` and ``convert``: the recurrent layers are found under
any attribute, counted as Flax counts them, and converted files run as the Flax model runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

np = pytest.importorskip("numpy")
pytest.importorskip("flax")
torch = pytest.importorskip("torch")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from documents import unnamed  # noqa: E402
from flax import nnx, serialization  # noqa: E402

from rnncalc.convert import convert  # noqa: E402
from rnncalc.core.errors import ConversionError  # noqa: E402
from rnncalc.core.spec import Cell, MergeMode, Spec  # noqa: E402

ATOL = 1e-5
CELLS = {"lstm": nnx.LSTMCell, "gru": nnx.GRUCell, "rnn": nnx.SimpleCell}
TORCH = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}


def rnn(cell: str, inputs: int, hidden: int, rngs: Any) -> Any:
    return nnx.RNN(CELLS[cell](inputs, hidden, rngs=rngs))


def bidirectional(cell: str, inputs: int, hidden: int, rngs: Any, merge: Any = None) -> Any:
    kwargs = {} if merge is None else {"merge_fn": merge}
    return nnx.Bidirectional(rnn(cell, inputs, hidden, rngs), rnn(cell, inputs, hidden, rngs), **kwargs)


class Encoder(nnx.Module):  # type: ignore[misc]
    """One LSTM under an attribute rnncalc does not write (``encoder``)."""

    def __init__(self, rngs: Any) -> None:
        self.encoder = rnn("lstm", 3, 5, rngs)

    def __call__(self, x: Any) -> Any:
        return self.encoder(x)


class Blocks(nnx.Module):  # type: ignore[misc]
    """Three GRU layers in an ``nnx.List`` called ``blocks``."""

    def __init__(self, rngs: Any) -> None:
        self.blocks = nnx.List([rnn("gru", 3, 4, rngs), rnn("gru", 4, 4, rngs), rnn("gru", 4, 4, rngs)])

    def __call__(self, x: Any) -> Any:
        for block in self.blocks:
            x = block(x)
        return x


class Nested(nnx.Module):  # type: ignore[misc]
    """A bidirectional RNN two modules down (``body.inner.birnn``)."""

    def __init__(self, rngs: Any) -> None:
        self.body = nnx.Dict(inner=nnx.Dict(birnn=bidirectional("rnn", 3, 6, rngs)))

    def __call__(self, x: Any) -> Any:
        return self.body["inner"]["birnn"](x)


class Summed(nnx.Module):  # type: ignore[misc]
    """Two bidirectional LSTM layers merged by sum (issue 18: a convert source no test held)."""

    def __init__(self, rngs: Any) -> None:
        self.layers = nnx.List(
            [bidirectional("lstm", 3, 4, rngs, jnp.add), bidirectional("lstm", 4, 4, rngs, jnp.add)]
        )

    def __call__(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x


class Classifier(nnx.Module):  # type: ignore[misc]
    """Embedding, a GRU stack in a list beside other modules, a dense head."""

    def __init__(self, rngs: Any) -> None:
        self.embed = nnx.Embed(50, 3, rngs=rngs)
        self.rnns = nnx.List([rnn("gru", 3, 8, rngs), rnn("gru", 8, 8, rngs)])
        self.head = nnx.Linear(8, 2, rngs=rngs)


#: model → (recurrent layer prefix, its spec, the PyTorch module holding the same stack).
MODELS: dict[str, tuple[type, str, Spec, Callable[[], Any] | None]] = {
    "encoder": (Encoder, "encoder", Spec(cell=Cell.LSTM, input_size=3, hidden_size=5),
                lambda: torch.nn.LSTM(3, 5, batch_first=True)),
    "blocks": (Blocks, "blocks", Spec(cell=Cell.GRU, input_size=3, hidden_size=4, num_layers=3),
               lambda: torch.nn.GRU(3, 4, num_layers=3, batch_first=True)),
    "nested": (Nested, "body.inner.birnn",
               Spec(cell=Cell.RNN, input_size=3, hidden_size=6, bidirectional=True),
               lambda: torch.nn.RNN(3, 6, bidirectional=True, batch_first=True)),
    "summed": (Summed, "layers", Spec(cell=Cell.LSTM, input_size=3, hidden_size=4, num_layers=2,
                                      bidirectional=True, merge_mode=MergeMode.SUM), None),
}  # fmt: skip


def randomized(model_class: type, seed: int = 0) -> Any:
    """The model with every parameter drawn at random (nnx.Linear starts its biases at zero)."""
    model = model_class(nnx.Rngs(seed))
    state = nnx.state(model, nnx.Param)
    rng = np.random.default_rng(seed + 1)
    for _, variable in nnx.to_flat_state(state):
        variable.set_value(rng.uniform(-0.5, 0.5, variable.shape).astype(np.float32))
    nnx.update(model, state)
    return model


def param_count(model: Any) -> int:
    return sum(leaf.size for leaf in jax.tree.leaves(nnx.state(model, nnx.Param)))


def save_msgpack(model: Any, path: Path) -> Path:
    """Flax's checkpointing guide without Orbax: the parameters' pure dict, msgpack."""
    path.write_bytes(serialization.msgpack_serialize(nnx.to_pure_dict(nnx.state(model, nnx.Param))))
    return path


def x_for(spec: Spec) -> Any:
    assert spec.input_size is not None
    return np.random.default_rng(7).standard_normal((2, 5, spec.input_size)).astype(np.float32)


def torch_outputs(make: Callable[[], Any], path: Path, x: Any) -> Any:
    module = make()
    module.load_state_dict(torch.load(path, weights_only=True), strict=True)
    with torch.no_grad():
        return module(torch.from_numpy(x))[0].numpy()


def inspected(run_cli: Callable[..., Result], path: Path) -> dict[str, Any]:
    result = run_cli("inspect", str(path), "-f", "json")
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@pytest.mark.parametrize("name", ["encoder", "blocks", "nested"])
def test_a_stack_under_any_attribute_is_found_counted_and_converted_as_flax_runs_it(
    name: str, tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    model_class, prefix, spec, make = MODELS[name]
    model = randomized(model_class)
    path = save_msgpack(model, tmp_path / f"{name}.msgpack")
    document = inspected(run_cli, path)
    assert document["format"] == "flax msgpack" and document["convention"] == "flax"
    assert document["total_params"] == param_count(model) and document["other_params"] == 0
    [layer] = document["recurrent"]
    assert layer["prefix"] == prefix and layer["params"] == param_count(model)
    assert {key: layer["spec"][key] for key in ("cell", "input_size", "hidden_size", "num_layers")} == {
        "cell": spec.cell.value, "input_size": spec.input_size, "hidden_size": spec.hidden_size,
        "num_layers": spec.num_layers,
    }  # fmt: skip
    done = convert(str(path), str(tmp_path / "converted.pt"))
    assert done.plan.spec == spec
    assert make is not None
    x = x_for(spec)
    np.testing.assert_allclose(torch_outputs(make, tmp_path / "converted.pt", x), model(x), atol=ATOL, rtol=0)


def test_a_summed_bidirectional_stack_converts_to_keras_and_flax_as_flax_runs_it(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    _, _, spec, _ = MODELS["summed"]
    model = randomized(Summed)
    path = save_msgpack(model, tmp_path / "summed.msgpack")
    x = x_for(spec)
    expected = np.asarray(model(x))
    done = convert(str(path), str(tmp_path / "summed.keras"))
    assert done.plan.spec == spec  # sum found from the second layer's input (H, not 2H)
    got = np.asarray(keras.models.load_model(tmp_path / "summed.keras")(x))
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)
    convert(str(path), str(tmp_path / "again.msgpack"))
    restored = Summed(nnx.Rngs(99))
    state = nnx.state(restored, nnx.Param)
    nnx.replace_by_pure_dict(state, serialization.msgpack_restore((tmp_path / "again.msgpack").read_bytes()))
    nnx.update(restored, state)
    np.testing.assert_allclose(np.asarray(restored(x)), expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("suffix", [".pt", ".onnx"])
def test_a_summed_bidirectional_stack_is_refused_by_targets_that_always_concatenate(
    suffix: str, tmp_path: Path
) -> None:
    path = save_msgpack(randomized(Summed), tmp_path / "summed.msgpack")
    with pytest.raises(ConversionError, match="merge_mode sum"):
        convert(str(path), str(tmp_path / f"summed{suffix}"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summed.msgpack"]


def test_a_stack_beside_an_embedding_and_a_head_is_counted_and_its_neighbours_named(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    model = randomized(Classifier)
    path = save_msgpack(model, tmp_path / "classifier.msgpack")
    document = inspected(run_cli, path)
    assert document["total_params"] == param_count(model)
    [layer] = document["recurrent"]
    assert layer["prefix"] == "rnns" and layer["spec"]["num_layers"] == 2
    gru_params = sum(leaf.size for leaf in jax.tree.leaves(nnx.state(model.rnns, nnx.Param)))
    assert layer["params"] == gru_params
    assert document["other_params"] == 50 * 3 + 8 * 2 + 2
    # The whole model converts: the state dict runs in PyTorch as the Flax modules run.
    convert(str(path), str(tmp_path / "classifier.pt"))
    torch_model = torch.nn.ModuleList(
        [torch.nn.Embedding(50, 3), torch.nn.GRU(3, 8, num_layers=2, batch_first=True), torch.nn.Linear(8, 2)]
    )
    torch_model.load_state_dict(torch.load(tmp_path / "classifier.pt"), strict=True)
    ids = np.random.default_rng(3).integers(0, 50, size=(2, 5))
    x = model.embed(ids)
    for layer in model.rnns:
        x = layer(x)
    expected = np.asarray(model.head(x[:, -1]))
    embed, gru, head = torch_model
    with torch.no_grad():
        sequence, _ = gru(embed(torch.from_numpy(ids)))
        got = head(sequence[:, -1]).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_list_items_that_do_not_chain_are_separate_layers(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    class Mixed(nnx.Module):  # type: ignore[misc]
        def __init__(self, rngs: Any) -> None:
            # Item 1 is a Linear; items 2 and 3 chain; item 4 takes other sizes.
            self.items = nnx.List([rnn("gru", 3, 4, rngs), nnx.Linear(4, 4, rngs=rngs),
                                   rnn("lstm", 4, 6, rngs), rnn("lstm", 6, 6, rngs),
                                   rnn("lstm", 5, 6, rngs)])  # fmt: skip

    model = randomized(Mixed)
    document = inspected(run_cli, save_msgpack(model, tmp_path / "mixed.msgpack"))
    layers = {layer["prefix"]: layer["spec"]["num_layers"] for layer in document["recurrent"]}
    assert layers == {"items.0": 1, "items[2:4]": 2, "items.4": 1}
    assert document["total_params"] == param_count(model)


def test_cells_rnncalc_does_not_model_are_named_and_left_among_the_other_tensors(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    class Cells(nnx.Module):  # type: ignore[misc]
        def __init__(self, rngs: Any) -> None:
            self.fast = nnx.RNN(nnx.OptimizedLSTMCell(3, 4, rngs=rngs))
            self.step = nnx.GRUCell(3, 4, rngs=rngs)  # called a step at a time, outside nnx.RNN

    model = randomized(Cells)
    document = inspected(run_cli, save_msgpack(model, tmp_path / "cells.msgpack"))
    assert document["recurrent"] == [] and document["total_params"] == param_count(model)
    assert sorted(document["notes"]) == [
        "fast: recurrent-looking tensors not counted as a layer: an nnx.OptimizedLSTMCell (gates "
        "stacked in dense_i, dense_h), which rnncalc does not model",
        "step: a cell's weights outside nnx.RNN (cells run a step at a time are not modelled); "
        "left among the other tensors",
    ]


def test_inspect_gives_a_msgpack_state_the_document_every_format_has(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    path = save_msgpack(randomized(Encoder), tmp_path / "encoder.msgpack")
    torch.save(torch.nn.LSTM(3, 5).state_dict(), tmp_path / "lstm.pt")
    flax_document, torch_document = inspected(run_cli, path), inspected(run_cli, tmp_path / "lstm.pt")
    assert flax_document.keys() == torch_document.keys()
    assert flax_document["tensors"][0].keys() == torch_document["tensors"][0].keys()
    assert flax_document["recurrent"][0].keys() == torch_document["recurrent"][0].keys()
    assert flax_document["tensors"][0] == {
        "name": "encoder.cell.hf.bias", "shape": [5], "dtype": "float32", "params": 5, "layer": None,
        "recurrent": "encoder",
    }  # fmt: skip


def test_a_bare_msgpack_file_is_read_by_its_first_bytes(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    named = save_msgpack(randomized(Encoder), tmp_path / "encoder.msgpack")
    bare = tmp_path / "checkpoint_5"  # flax.training.checkpoints names its files so
    bare.write_bytes(named.read_bytes())
    assert unnamed(inspected(run_cli, bare)) == unnamed(inspected(run_cli, named))


# --- Orbax ----------------------------------------------------------------------------------------

ocp = pytest.importorskip("orbax.checkpoint")


def test_an_orbax_checkpoint_of_the_whole_state_is_inspected_and_converted(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    model = randomized(Blocks)
    checkpointer = ocp.StandardCheckpointer()
    _, state = nnx.split(model)  # Flax's checkpointing guide: the whole state, RNG streams too
    checkpointer.save(tmp_path / "state", state)
    checkpointer.wait_until_finished()
    document = inspected(run_cli, tmp_path / "state")
    assert document["format"] == "orbax" and document["total_params"] == param_count(model)
    assert [layer["prefix"] for layer in document["recurrent"]] == ["blocks"]
    assert any("RNG-state entries" in note for note in document["notes"])
    _, _, spec, make = MODELS["blocks"]
    result = run_cli("convert", str(tmp_path / "state"), "-o", str(tmp_path / "blocks.pt"))
    assert result.exit_code == 0, result.stderr
    x = x_for(spec)
    assert make is not None
    np.testing.assert_allclose(torch_outputs(make, tmp_path / "blocks.pt", x), model(x), atol=ATOL, rtol=0)


def test_a_checkpoint_manager_s_latest_step_is_read_and_said(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    manager = ocp.CheckpointManager(tmp_path / "run")
    models = {step: randomized(Encoder, seed=step) for step in (1, 10, 2)}
    for step, model in models.items():
        manager.save(step, args=ocp.args.StandardSave(nnx.state(model, nnx.Param)))
    manager.wait_until_finished()
    result = run_cli("inspect", str(tmp_path / "run"), "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith(f"rnncalc: note: {tmp_path / 'run'}: read step 10, the latest")
    assert json.loads(result.stdout)["total_params"] == param_count(models[10])
    _, _, spec, make = MODELS["encoder"]
    convert(str(tmp_path / "run"), str(tmp_path / "encoder.pt"))
    x = x_for(spec)
    assert make is not None
    np.testing.assert_allclose(
        torch_outputs(make, tmp_path / "encoder.pt", x), models[10](x), atol=ATOL, rtol=0
    )


def _one_line(result: Result, path: Path) -> str:
    assert result.exit_code == 2 and result.stdout == "", result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"rnncalc: error: {path}: ")
    return result.stderr.removeprefix(f"rnncalc: error: {path}: ").rstrip("\n")


def test_a_checkpoint_of_several_items_is_refused_naming_them(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    manager = ocp.CheckpointManager(tmp_path / "run", item_names=("params", "opt"))
    params = nnx.state(randomized(Encoder), nnx.Param)
    manager.save(3, args=ocp.args.Composite(params=ocp.args.StandardSave(params),
                                            opt=ocp.args.StandardSave(params)))  # fmt: skip
    manager.wait_until_finished()
    message = _one_line(run_cli("inspect", str(tmp_path / "run")), tmp_path / "run")
    first = tmp_path / "run" / "3" / "opt"
    assert message == f"an Orbax checkpoint of 2 items (opt, params); name the one to read: {first}"
    document = inspected(run_cli, tmp_path / "run" / "3" / "params")
    assert document["recurrent"][0]["prefix"] == "encoder"


def test_a_symbolic_link_out_of_a_checkpoint_is_refused_and_its_target_never_opened(tmp_path: Path) -> None:
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(tmp_path / "state", nnx.state(randomized(Encoder), nnx.Param))
    checkpointer.wait_until_finished()
    outside = tmp_path / "outside"
    os.mkfifo(outside)  # opening it to read would block: the test would time out
    data = next(path for path in (tmp_path / "state" / "d").iterdir())
    data.unlink()
    data.symlink_to(outside)
    code = "import sys; from rnncalc.cli import main; sys.argv = ['rnncalc', *sys.argv[1:]]; main()"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    for command in (["inspect", str(tmp_path / "state")], ["convert", str(tmp_path / "state"), "-o", "x.pt"]):
        proc = subprocess.run([sys.executable, "-c", code, *command], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path, env=env)  # fmt: skip
        assert proc.returncode == 2 and proc.stdout == "", proc.stderr
        relative = data.relative_to(tmp_path / "state")
        assert proc.stderr == (
            f"rnncalc: error: {tmp_path / 'state'}: {relative} is a symbolic link; rnncalc reads "
            "checkpoints whose files are all inside\n"
        )
    assert not (tmp_path / "x.pt").exists()


def test_without_orbax_a_checkpoint_gets_the_install_hint(tmp_path: Path) -> None:
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "_METADATA").write_text("{}")
    code = (
        "import sys; sys.modules['orbax'] = None  # as if not installed\n"
        "from rnncalc.cli import main; sys.argv = ['rnncalc', 'inspect', sys.argv[1]]; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "ckpt")], capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert (
        proc.stderr
        == f"rnncalc: error: {tmp_path / 'ckpt'}: an Orbax checkpoint: pip install 'rnncalc[orbax]'\n"
    )


def test_checkpoint_json_past_the_bound_is_refused_before_orbax_parses_it(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    from rnncalc.frameworks.flax_files import MAX_METADATA_BYTES

    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(tmp_path / "state", nnx.state(randomized(Encoder), nnx.Param))
    checkpointer.wait_until_finished()
    with (tmp_path / "state" / "_METADATA").open("r+b") as handle:
        handle.truncate(MAX_METADATA_BYTES + 1)  # sparse: no 100 MB written
    assert _one_line(run_cli("inspect", str(tmp_path / "state")), tmp_path / "state") == (
        f"_METADATA holds {MAX_METADATA_BYTES + 1:,} bytes of JSON, over {MAX_METADATA_BYTES:,}"
    )


@pytest.mark.parametrize("key", ["..", "a/b"])
def test_a_key_that_could_name_a_path_outside_the_checkpoint_is_refused(
    key: str, tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    checkpointer = ocp.StandardCheckpointer()  # orbax writes such keys as they are
    checkpointer.save(tmp_path / "state", {key: {"kernel": np.zeros((3, 4), np.float32)}})
    checkpointer.wait_until_finished()
    assert _one_line(run_cli("inspect", str(tmp_path / "state")), tmp_path / "state") == (
        f"the key {key!r} could name a file outside the checkpoint"
    )
