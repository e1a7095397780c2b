"""The numpy reference against the real PyTorch and Keras, and against the course's own numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from rnncalc import frameworks, reference
from rnncalc.core.spec import Cell, MergeMode, Nonlinearity, Spec
from rnncalc.frameworks import keras as keras_adapter

TORCH = frameworks.get("torch")
KERAS = frameworks.get("keras")

ATOL = 1e-5  # float32 forward passes of these tiny stacks agree to ~1e-7
INPUT, HIDDEN, BATCH, STEPS = 3, 4, 2, 5

# --- The seed notebook's numbers --------------------------------------------------------------

SEED_INPUT = np.array([[[1.0] * 5, [2.0] * 5, [3.0] * 5]], dtype=np.float32)  # (batch 1, 3 steps, 5)
SEED_OUTPUT = np.array(
    [[[-0.3519801, 0.52525216], [-0.68424344, 0.76074266], [-0.8649416, 0.9046636]]], dtype=np.float32
)


@pytest.fixture(scope="module")
def seed_rnn() -> nn.RNN:
    torch.manual_seed(1)
    return nn.RNN(input_size=5, hidden_size=2, batch_first=True)


def test_torch_reproduces_the_seed_notebooks_outputs(seed_rnn: nn.RNN) -> None:
    with torch.no_grad():
        output, _ = seed_rnn(torch.from_numpy(SEED_INPUT))
    np.testing.assert_allclose(output.numpy(), SEED_OUTPUT, atol=1e-6, rtol=0)


def test_reference_fed_torchs_weights_reproduces_the_seed_notebooks_outputs(seed_rnn: nn.RNN) -> None:
    spec = Spec(cell=Cell.RNN, input_size=5, hidden_size=2, batch_first=True)
    state = {name: t.detach().numpy() for name, t in seed_rnn.state_dict().items()}
    result = TORCH.reference_forward(spec, TORCH.to_canonical(spec, state), SEED_INPUT)
    np.testing.assert_allclose(result["output"], SEED_OUTPUT, atol=1e-6, rtol=0)
    np.testing.assert_allclose(result["h_n"], SEED_OUTPUT[:, -1][None], atol=1e-6, rtol=0)


# --- Conventions as literals -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("framework", "cell", "expected"),
    [
        ("torch", Cell.LSTM, [0, 1, 2, 3]),
        ("torch", Cell.GRU, [0, 1, 2]),
        ("keras", Cell.LSTM, [0, 1, 2, 3]),  # i f c o: c is PyTorch's g
        ("keras", Cell.GRU, [1, 0, 2]),  # z r h: r is second, z first
    ],
)
def test_gate_permutation_finds_each_canonical_gate_in_the_frameworks_order(
    framework: str, cell: Cell, expected: list[int]
) -> None:
    assert reference.gate_permutation(frameworks.get(framework), cell) == expected


def test_one_rnn_step_is_tanh_of_the_affine_map() -> None:
    w = reference.DirectionWeights(
        w_x=np.array([[1.0, 2.0]], dtype=np.float32),
        w_h=np.array([[0.5]], dtype=np.float32),
        b_x=np.array([0.1], dtype=np.float32),
        b_h=np.array([0.2], dtype=np.float32),
    )
    x = np.array([[[0.3, -0.4]], [[1.0, 0.0]]], dtype=np.float32)  # (L=2, N=1, I=2)
    result = reference.run_direction(Cell.RNN, x, w)
    h1 = np.tanh(0.3 - 0.8 + 0.3)
    h2 = np.tanh(1.0 + 0.5 * h1 + 0.3)
    np.testing.assert_allclose(result.sequence[:, 0, 0], [h1, h2], atol=1e-6)


# --- PyTorch -----------------------------------------------------------------------------------

_TORCH_MODULES = {Cell.RNN: nn.RNN, Cell.LSTM: nn.LSTM, Cell.GRU: nn.GRU}


def _torch_module(spec: Spec) -> nn.RNNBase:
    """Built here from nn directly, not through the adapter, so the test stays independent."""
    assert spec.input_size is not None
    kwargs: dict[str, Any] = {
        "num_layers": spec.num_layers,
        "bias": spec.bias,
        "batch_first": spec.batch_first,
        "bidirectional": spec.bidirectional,
    }
    if spec.cell is Cell.RNN:
        kwargs["nonlinearity"] = spec.nonlinearity.value
    if spec.proj_size:
        kwargs["proj_size"] = spec.proj_size
    torch.manual_seed(0)
    return _TORCH_MODULES[spec.cell](spec.input_size, spec.hidden_size, **kwargs)


def _torch_input(spec: Spec) -> np.ndarray[Any, Any]:
    shape = (
        (STEPS, INPUT)
        if spec.unbatched
        else (BATCH, STEPS, INPUT)
        if spec.batch_first
        else (STEPS, BATCH, INPUT)
    )
    return np.random.default_rng(1).standard_normal(shape).astype(np.float32)


_TORCH_CELLS: list[dict[str, Any]] = [
    {"cell": Cell.RNN},
    {"cell": Cell.RNN, "nonlinearity": Nonlinearity.RELU},
    {"cell": Cell.LSTM},
    {"cell": Cell.LSTM, "proj_size": 2},
    {"cell": Cell.GRU},
]
_TORCH_LAYOUTS: list[dict[str, Any]] = [
    {},
    {"batch_first": True},
    {"unbatched": True},
    {"bias": False},
]


def _id(fields: dict[str, Any]) -> str:
    return ",".join(f"{k}={getattr(v, 'value', v)}" for k, v in fields.items()) or "defaults"


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("layout", _TORCH_LAYOUTS, ids=_id)
@pytest.mark.parametrize("cell", _TORCH_CELLS, ids=_id)
def test_reference_matches_torch(
    cell: dict[str, Any], layout: dict[str, Any], bidirectional: bool, layers: int
) -> None:
    spec = Spec(
        input_size=INPUT, hidden_size=HIDDEN, num_layers=layers, bidirectional=bidirectional, **cell, **layout
    )
    module = _torch_module(spec)
    x = _torch_input(spec)
    with torch.no_grad():
        output, state = module(torch.from_numpy(x))
    states = state if isinstance(state, tuple) else (state,)
    real = {"output": output, **dict(zip(("h_n", "c_n"), states, strict=False))}
    weights = TORCH.to_canonical(spec, {k: v.numpy() for k, v in module.state_dict().items()})
    expected = TORCH.reference_forward(spec, weights, x)
    assert list(expected) == list(real)
    for name, tensor in real.items():
        np.testing.assert_allclose(expected[name], tensor.numpy(), atol=ATOL, rtol=0, err_msg=name)


# --- Keras -------------------------------------------------------------------------------------


def _keras_outputs_of_reference_and_model(spec: Spec) -> tuple[dict[str, Any], dict[str, Any]]:
    """Build the Keras model, give every variable random values (Keras initialises biases to
    zero, which would hide a bias mix-up), and run both on one input."""
    probe = spec.replace(batch_size=BATCH, seq_len=STEPS)
    model = keras_adapter.build(probe)
    rng = np.random.default_rng(2)
    for variable in model.weights:
        variable.assign(rng.uniform(-0.6, 0.6, size=tuple(variable.shape)).astype(np.float32))
    x = rng.standard_normal((BATCH, STEPS, INPUT)).astype(np.float32)
    real = keras_adapter.run(model, probe, x)
    weights = KERAS.to_canonical(probe, keras_adapter.weights_numpy(model))
    return KERAS.reference_forward(probe, weights, x), real


def _assert_same(expected: dict[str, Any], real: dict[str, Any]) -> None:
    assert list(expected) == list(real)
    for name, value in real.items():
        np.testing.assert_allclose(expected[name], value, atol=ATOL, rtol=0, err_msg=name)


_KERAS_CELLS: list[dict[str, Any]] = [
    {"cell": Cell.RNN},
    {"cell": Cell.LSTM},
    {"cell": Cell.GRU},
    {"cell": Cell.GRU, "reset_after": False},
]


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", _KERAS_CELLS, ids=_id)
def test_reference_matches_keras(cell: dict[str, Any], bidirectional: bool, layers: int) -> None:
    spec = Spec(
        input_size=INPUT,
        hidden_size=HIDDEN,
        num_layers=layers,
        bidirectional=bidirectional,
        return_sequences=True,
        return_state=True,
        **cell,
    )
    _assert_same(*_keras_outputs_of_reference_and_model(spec))


@pytest.mark.parametrize("merge_mode", list(MergeMode), ids=lambda m: m.value)
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "sequences"])
@pytest.mark.parametrize("cell", [Cell.LSTM, Cell.GRU], ids=lambda c: c.value)
def test_reference_matches_keras_bidirectional_merge_mode(
    cell: Cell, return_sequences: bool, merge_mode: MergeMode
) -> None:
    spec = Spec(
        cell=cell,
        input_size=INPUT,
        hidden_size=HIDDEN,
        bidirectional=True,
        merge_mode=merge_mode,
        return_sequences=return_sequences,
        return_state=True,
    )
    _assert_same(*_keras_outputs_of_reference_and_model(spec))


@pytest.mark.parametrize(
    "fields",
    [
        {"cell": Cell.RNN, "nonlinearity": Nonlinearity.RELU, "num_layers": 2},
        {"cell": Cell.RNN, "bias": False, "return_sequences": True},
        {"cell": Cell.LSTM, "bias": False, "bidirectional": True, "num_layers": 2},
        {"cell": Cell.GRU, "bias": False, "reset_after": False, "return_state": True},
        {"cell": Cell.LSTM},  # neither sequences nor states: the last output alone
        {"cell": Cell.GRU, "bidirectional": True, "num_layers": 2, "merge_mode": MergeMode.SUM},
    ],
    ids=_id,
)
def test_reference_matches_keras_variants(fields: dict[str, Any]) -> None:
    spec = Spec(input_size=INPUT, hidden_size=HIDDEN, **fields)
    _assert_same(*_keras_outputs_of_reference_and_model(spec))


# --- Benchmark helper ----------------------------------------------------------------------------


def test_random_weights_give_torch_shaped_outputs_for_a_projected_bidirectional_lstm() -> None:
    spec = Spec(cell=Cell.LSTM, input_size=6, hidden_size=5, proj_size=3, num_layers=2, bidirectional=True)
    weights = reference.random_weights(spec, seed=3)
    x = np.zeros((7, 4, 6), dtype=np.float32)
    result = TORCH.reference_forward(spec, weights, x)
    assert {name: value.shape for name, value in result.items()} == {
        "output": (7, 4, 6),
        "h_n": (4, 4, 3),
        "c_n": (4, 4, 5),
    }
    assert all(value.dtype == np.float32 for value in result.values())


def test_time_forward_runs_the_reference_and_reports_a_positive_duration() -> None:
    spec = Spec(cell=Cell.GRU, input_size=3, hidden_size=4, batch_size=2, seq_len=3, batch_first=True)
    assert 0 < reference.time_forward(spec, repeats=2) < 5
