"""The analytic calculator against the real PyTorch and Keras over a grid of configurations:
total params, every weight name and shape, every output shape from an actual forward pass."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from rnncalc.analysis import analyze
from rnncalc.core.errors import SpecError
from rnncalc.core.spec import spec_from_mapping
from rnncalc.frameworks import measure


def _grid(axes: dict[str, list[Any]], base: dict[str, Any]) -> list[dict[str, Any]]:
    """Every valid combination of ``axes`` over ``base`` (invalid combinations are skipped)."""
    specs = []
    for values in itertools.product(*axes.values()):
        fields = {**base, **dict(zip(axes, values, strict=True))}
        try:
            spec_from_mapping(fields)
        except SpecError:
            continue
        specs.append(fields)
    return specs


BASE: dict[str, Any] = {"input_size": 3, "hidden_size": 4}
COMMON: dict[str, list[Any]] = {
    "cell": ["rnn", "lstm", "gru"],
    "bias": [True, False],
    "bidirectional": [False, True],
    "num_layers": [1, 2, 3],
}
TORCH_GRID = _grid({**COMMON, "batch_first": [False, True], "proj_size": [0, 2]}, BASE) + _grid(
    {"cell": ["rnn", "gru", "lstm"], "unbatched": [True], "bidirectional": [False, True]}, BASE
)
KERAS_GRID = _grid(
    {
        **COMMON,
        "reset_after": [True, False],
        "return_sequences": [False, True],
        "return_state": [False, True],
    },
    {**BASE, "seq_len": 5},
) + _grid(
    {
        "cell": ["rnn", "lstm", "gru"],
        "merge_mode": ["sum", "mul", "ave", "none"],
        "return_state": [False, True],
    },
    {**BASE, "bidirectional": True},
)


def _ids(fields: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in fields.items() if k not in BASE)


def assert_matches_real(fields: dict[str, Any], framework: str) -> None:
    spec = spec_from_mapping(fields)
    measured = measure(spec, framework)
    analytic = analyze(measured.probe).framework(framework)
    assert analytic.total.value == measured.total_params
    assert [(w.path, w.shape) for w in analytic.weights] == list(measured.weights)
    assert analytic.outputs == measured.outputs


@pytest.mark.parametrize("fields", TORCH_GRID, ids=_ids)
def test_analytic_matches_real_pytorch(fields: dict[str, Any]) -> None:
    assert_matches_real(fields, "torch")


@pytest.mark.parametrize("fields", KERAS_GRID, ids=_ids)
def test_analytic_matches_real_keras(fields: dict[str, Any]) -> None:
    assert_matches_real(fields, "keras")


def test_keras_symbolic_output_shapes_keep_unknown_dimensions_as_none() -> None:
    from rnncalc.frameworks import keras as keras_adapter

    for fields in [
        {"cell": "lstm", "input_size": 3, "hidden_size": 4, "bidirectional": True, "return_state": True},
        {"cell": "gru", "input_size": 3, "hidden_size": 4, "return_sequences": True, "batch_size": 7},
    ]:
        spec = spec_from_mapping(fields)
        model = keras_adapter.build(spec)
        symbolic = [tuple(t.shape) for t in model.outputs]
        assert symbolic == [shape for _, shape in analyze(spec).framework("keras").outputs]


def test_grids_cover_every_cell_and_option() -> None:
    assert len(TORCH_GRID) >= 100 and len(KERAS_GRID) >= 100
    assert {f["cell"] for f in KERAS_GRID} == {"rnn", "lstm", "gru"}
