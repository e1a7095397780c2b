"""The numpy reference agrees with the real frameworks for cells run one step from given,
nonzero initial states, and for Keras's activations and go_backwards over time.

The real side is built here with torch and keras directly (not through rnncalc's adapters), its
weights read back, and the reference runs on exactly those weights.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from rnncalc import frameworks, reference
from rnncalc.core.spec import Cell, Spec, spec_from_mapping
from rnncalc.verify.run import random_input, verify

ATOL = 1e-5

torch = pytest.importorskip("torch")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
keras = pytest.importorskip("keras")

TORCH_CELLS = {Cell.RNN: torch.nn.RNNCell, Cell.LSTM: torch.nn.LSTMCell, Cell.GRU: torch.nn.GRUCell}
KERAS_CELLS = {Cell.RNN: "SimpleRNNCell", Cell.LSTM: "LSTMCell", Cell.GRU: "GRUCell"}


def _draw(rng: np.random.Generator, *shape: int) -> np.ndarray[Any, Any]:
    return rng.standard_normal(shape).astype(np.float32)


def _reference(spec: Spec, framework: str, weights: dict[str, Any], x: Any) -> dict[str, Any]:
    convention = frameworks.get(framework)
    return convention.reference_forward(spec, convention.to_canonical(spec, weights), x)


@pytest.mark.parametrize("cell", list(Cell))
@pytest.mark.parametrize("unbatched", [False, True])
def test_the_reference_runs_one_pytorch_cell_step_from_given_states(cell: Cell, unbatched: bool) -> None:
    spec = spec_from_mapping(
        {"cell": cell.value, "input_size": 5, "hidden_size": 4, "step": True, "unbatched": unbatched}
        | ({} if unbatched else {"batch_size": 3})
    )
    torch.manual_seed(1)
    module = TORCH_CELLS[cell](5, 4)
    rng = np.random.default_rng(2)
    lead = () if unbatched else (3,)
    x, h_0, c_0 = _draw(rng, *lead, 5), _draw(rng, *lead, 4), _draw(rng, *lead, 4)
    with torch.no_grad():
        if cell is Cell.LSTM:
            h_1, c_1 = module(torch.from_numpy(x), (torch.from_numpy(h_0), torch.from_numpy(c_0)))
            real = {"h_1": h_1.numpy(), "c_1": c_1.numpy()}
        else:
            real = {"h_1": module(torch.from_numpy(x), torch.from_numpy(h_0)).numpy()}
    weights = {name: t.detach().numpy() for name, t in module.state_dict().items()}
    expected = _reference(spec, "torch", weights, {"x": x, "h_0": h_0, "c_0": c_0})
    assert set(expected) == set(real)
    for name, value in real.items():
        np.testing.assert_allclose(expected[name], value, atol=ATOL)
    # The states matter: from zeros the same cell gives something else.
    zeros = _reference(spec, "torch", weights, {"x": x, "h_0": 0 * h_0, "c_0": 0 * c_0})
    assert not np.allclose(zeros["h_1"], real["h_1"], atol=1e-3)


@pytest.mark.parametrize(
    "options",
    [
        {"cell": "rnn"},
        {"cell": "rnn", "activation": "sigmoid", "bias": False},
        {"cell": "lstm"},
        {"cell": "lstm", "activation": "relu", "recurrent_activation": "hard_sigmoid"},
        {"cell": "lstm", "activation": "linear", "unit_forget_bias": False},
        {"cell": "gru"},
        {"cell": "gru", "reset_after": False, "activation": "relu", "recurrent_activation": "hard_sigmoid"},
        {"cell": "gru", "recurrent_activation": "tanh"},
    ],
)
def test_the_reference_runs_one_keras_cell_step_from_given_states(options: dict[str, Any]) -> None:
    spec = spec_from_mapping({"input_size": 5, "hidden_size": 4, "step": True, "batch_size": 3, **options})
    kwargs: dict[str, Any] = {
        name: getattr(spec, name).value for name in ("activation", "recurrent_activation") if name in options
    }
    if "unit_forget_bias" in options:
        kwargs["unit_forget_bias"] = options["unit_forget_bias"]
    if spec.cell is Cell.GRU:
        kwargs["reset_after"] = spec.reset_after
    keras.utils.set_random_seed(3)
    cell = getattr(keras.layers, KERAS_CELLS[spec.cell])(4, use_bias=spec.bias, **kwargs)
    cell.build((3, 5))
    rng = np.random.default_rng(4)
    for variable in cell.weights:  # random biases too: Keras initializes them to zeros
        variable.assign(_draw(rng, *variable.shape) * 0.5)
    x, h_0, c_0 = _draw(rng, 3, 5), _draw(rng, 3, 4), _draw(rng, 3, 4)
    states = [h_0, c_0] if spec.cell is Cell.LSTM else [h_0]
    output, new_states = cell(x, states)
    names = ["output", "state_h", "state_c"][: 1 + len(states)]
    real = dict(zip(names, [np.asarray(t) for t in [output, *new_states]], strict=True))
    # Keras numbers cells within a session (gru_cell_2); rnncalc's paths are a fresh session's.
    analysed = frameworks.get("keras").report(spec).weights
    assert [row.path.split("/")[-1] for row in analysed] == [w.path.split("/")[-1] for w in cell.weights]
    weights = {row.path: np.asarray(w) for row, w in zip(analysed, cell.weights, strict=True)}
    expected = _reference(spec, "keras", weights, {"x": x, "h_0": h_0, "c_0": c_0})
    assert set(expected) == set(real)
    for name, value in real.items():
        np.testing.assert_allclose(expected[name], value, atol=ATOL)


@pytest.mark.parametrize(
    "options",
    [
        {"cell": "rnn", "go_backwards": True, "activation": "hard_sigmoid"},
        {"cell": "lstm", "go_backwards": True, "num_layers": 2, "recurrent_activation": "hard_sigmoid"},
        {"cell": "gru", "go_backwards": True, "activation": "linear", "return_state": True},
        {"cell": "lstm", "stateful": True, "unroll": True, "return_state": True},
    ],
)
def test_the_reference_follows_keras_activations_and_go_backwards_over_time(options: dict[str, Any]) -> None:
    spec = spec_from_mapping(
        {"input_size": 3, "hidden_size": 4, "batch_size": 2, "seq_len": 5, "return_sequences": True} | options
    )
    layer_class = {Cell.RNN: "SimpleRNN", Cell.LSTM: "LSTM", Cell.GRU: "GRU"}[spec.cell]
    kwargs = {
        key: value for key, value in options.items() if key not in ("cell", "num_layers", "return_state")
    }
    inputs = keras.Input(batch_shape=(2, 5, 3))
    x = inputs
    for index in range(spec.num_layers):
        last = index == spec.num_layers - 1
        layer = getattr(keras.layers, layer_class)(
            4, return_sequences=True, return_state=spec.return_state and last, **kwargs
        )
        x = layer(x)
    model = keras.Model(inputs, x)
    rng = np.random.default_rng(5)
    for variable in model.weights:
        variable.assign(_draw(rng, *variable.shape) * 0.5)
    data = _draw(rng, 2, 5, 3)
    result = model(data)
    tensors = result if isinstance(result, (list, tuple)) else [result]
    names = ["output", "state_h", "state_c"] if spec.cell is Cell.LSTM else ["output", "state_h"]
    real = dict(zip(names[: len(tensors)], [np.asarray(t) for t in tensors], strict=True))
    # rnncalc's paths are its own layer names; map them onto this model's by position.
    analysed = frameworks.get("keras").report(spec).weights
    weights = {row.path: np.asarray(w) for row, w in zip(analysed, model.weights, strict=True)}
    expected = _reference(spec, "keras", weights, data)
    assert set(expected) == set(real)
    for name, value in real.items():
        np.testing.assert_allclose(expected[name], value, atol=ATOL)


@pytest.mark.parametrize("cell", list(Cell))
def test_the_reference_runs_keras_stacked_cells_one_step_from_given_states(cell: Cell) -> None:
    spec = spec_from_mapping(
        {
            "cell": cell.value,
            "input_size": 5,
            "hidden_size": 4,
            "step": True,
            "num_layers": 2,
            "batch_size": 3,
        }
    )
    cell_class = getattr(keras.layers, KERAS_CELLS[cell])
    stacked = keras.layers.StackedRNNCells([cell_class(4), cell_class(4)])
    stacked.build((3, 5))
    rng = np.random.default_rng(9)
    for variable in stacked.weights:
        variable.assign(_draw(rng, *variable.shape) * 0.5)
    x = _draw(rng, 3, 5)
    per_cell = 2 if cell is Cell.LSTM else 1
    states = [[_draw(rng, 3, 4) for _ in range(per_cell)] for _ in range(2)]
    output, new_states = stacked(x, states)
    letters = ["h", "c"][:per_cell]
    real = {"output": np.asarray(output)}
    real.update(
        {
            f"state_{letter}_l{k}": np.asarray(new_states[k][i])
            for k in range(2)
            for i, letter in enumerate(letters)
        }
    )
    given = {f"{letter}_0_l{k}": states[k][i] for k in range(2) for i, letter in enumerate(letters)}
    analysed = frameworks.get("keras").report(spec).weights
    weights = {row.path: np.asarray(w) for row, w in zip(analysed, stacked.weights, strict=True)}
    expected = _reference(spec, "keras", weights, {"x": x, **given})
    assert set(expected) == set(real)
    for name, value in real.items():
        np.testing.assert_allclose(expected[name], value, atol=ATOL)


def test_the_notebooks_hand_loop_over_a_cell_is_the_layer_with_the_same_weights() -> None:
    """What ``explain --step`` says: ``for t: h, c = cell(x[t], (h, c))`` is ``nn.LSTM``."""
    torch.manual_seed(6)
    layer = torch.nn.LSTM(5, 4)
    cell = torch.nn.LSTMCell(5, 4)
    cell.load_state_dict({name.removesuffix("_l0"): t for name, t in layer.state_dict().items()})
    x = torch.randn(7, 2, 5)
    h, c = torch.zeros(2, 4), torch.zeros(2, 4)
    steps = []
    with torch.no_grad():
        for t in range(7):
            h, c = cell(x[t], (h, c))
            steps.append(h)
        output, (h_n, c_n) = layer(x)
    np.testing.assert_allclose(h.numpy(), h_n[0].numpy(), atol=ATOL)
    np.testing.assert_allclose(torch.stack(steps).numpy(), output.numpy(), atol=ATOL)
    np.testing.assert_allclose(c.numpy(), c_n[0].numpy(), atol=ATOL)


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_verify_draws_nonzero_initial_states_for_a_step_and_agrees(framework: str) -> None:
    spec = spec_from_mapping(
        {"cell": "lstm", "input_size": 3, "hidden_size": 4, "step": True, "batch_size": 2}
    )
    drawn = random_input(spec, framework, seed=0)
    assert set(drawn) == {"x", "h_0", "c_0"}
    assert np.abs(drawn["h_0"]).min() > 0 and np.abs(drawn["c_0"]).min() > 0
    (result,) = verify(spec, [framework]).results
    assert result.status.value == "agrees", result
    assert [c.name for c in result.comparisons] == (
        ["h_1", "c_1"] if framework == "torch" else ["output", "state_h", "state_c"]
    )


def test_run_step_chains_layers_as_stacked_cells_do() -> None:
    spec = spec_from_mapping({"cell": "gru", "input_size": 3, "hidden_size": 2, "num_layers": 2})
    weights = reference.random_weights(spec, seed=7)
    rng = np.random.default_rng(8)
    x, h_a, h_b = _draw(rng, 4, 3), _draw(rng, 4, 2), _draw(rng, 4, 2)
    first, second = reference.run_step(spec, weights, x, ((h_a, None), (h_b, None)))
    alone = reference.run_direction(Cell.GRU, first.h[None], weights.layers[1][0], h0=h_b)
    np.testing.assert_allclose(second.h, alone.h, atol=0)
