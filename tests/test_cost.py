"""The cost model against closed-form formulas and against PyTorch's own counted operations."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnncalc import frameworks
from rnncalc.core.model import build_model
from rnncalc.cost.model import DType, cost

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def per_step_macs(cell: str, in_size: int, hidden: int, proj: int = 0) -> int:
    """Closed form: gates·H·(I + R) + P·H, R = P when projecting, else H."""
    recurrent = proj or hidden
    return GATES[cell] * hidden * (in_size + recurrent) + proj * hidden


specs = st.fixed_dictionaries(
    {
        "cell": st.sampled_from(["rnn", "lstm", "gru"]),
        "input_size": st.integers(1, 40),
        "hidden_size": st.integers(2, 40),
        "num_layers": st.integers(1, 3),
        "bidirectional": st.booleans(),
        "batch_size": st.integers(1, 5),
        "seq_len": st.integers(1, 9),
    }
)


@given(specs)
@settings(max_examples=60, deadline=None)
def test_matmul_macs_follow_the_closed_form_for_every_layer_and_direction(data: dict[str, Any]) -> None:
    report = cost(data)
    dirs = 2 if data["bidirectional"] else 1
    hidden = data["hidden_size"]
    for framework in ("torch", "keras"):
        fc = report.framework(framework)
        assert len(fc.directions) == data["num_layers"] * dirs
        for d in fc.directions:
            first = d.layer in {"layer 0", "simple_rnn", "lstm", "gru", "bidirectional"}
            in_size = data["input_size"] if first else dirs * hidden
            assert d.step.macs == per_step_macs(data["cell"], in_size, hidden)
        steps = data["batch_size"] * data["seq_len"]
        assert fc.total.macs == fc.step.macs * steps
        assert fc.per_sequence.macs == fc.step.macs * data["seq_len"]


@pytest.mark.parametrize("name", frameworks.names())
@given(data=specs)
@settings(max_examples=20, deadline=None)
def test_every_convention_is_costed_per_layer_and_direction_whatever_its_weight_layout(
    name: str, data: dict[str, Any]
) -> None:
    """Flax splits kernels per gate and ONNX stacks both directions in one tensor: the figures per
    layer and direction must still be the closed form's."""
    fc = cost(data, names=(name,)).framework(name)
    dirs = 2 if data["bidirectional"] else 1
    hidden = data["hidden_size"]
    assert fc.supported
    assert len(fc.directions) == data["num_layers"] * dirs
    assert [d.direction for d in fc.directions[:dirs]] == ["forward", "backward"][:dirs]
    for index, d in enumerate(fc.directions):
        in_size = data["input_size"] if index < dirs else dirs * hidden
        assert (d.input_size, d.recurrent_size) == (in_size, hidden)
        assert d.step.macs == per_step_macs(data["cell"], in_size, hidden)


def test_a_models_blocks_take_their_input_sizes_from_every_conventions_layout() -> None:
    model = build_model(
        [
            {"cell": "gru", "hidden_size": 6, "bidirectional": True},
            {"cell": "lstm", "hidden_size": 5, "num_layers": 2},
        ],
        {"vocab_size": 20, "dim": 3},
        [{"units": 4}],
        batch_size=2,
        seq_len=3,
    )
    gru, lstm = per_step_macs("gru", 3, 6), [per_step_macs("lstm", 12, 5), per_step_macs("lstm", 5, 5)]
    for name in frameworks.names():
        fc = cost(model, names=(name,)).framework(name)
        assert [d.input_size for d in fc.directions] == [3, 3, 12, 5], name
        expected = [gru, gru, *lstm]
        assert [d.step.macs for d in fc.directions] == expected, name


@pytest.mark.parametrize(
    ("cell", "extra", "torch_vectors", "keras_vectors"),
    [
        ("rnn", {}, 2, 1),
        ("lstm", {}, 2, 1),
        ("gru", {}, 2, 2),  # Keras GRU reset_after=True keeps (2, 3H)
        ("gru", {"reset_after": False}, None, 1),
    ],
)
def test_bias_adds_count_each_frameworks_bias_vectors(
    cell: str, extra: dict[str, Any], torch_vectors: int | None, keras_vectors: int
) -> None:
    hidden = 6
    report = cost({"cell": cell, "input_size": 3, "hidden_size": hidden, **extra})
    rows = GATES[cell] * hidden
    if torch_vectors is None:
        assert not report.framework("torch").supported
    else:
        assert report.framework("torch").step.bias_adds == torch_vectors * rows
    assert report.framework("keras").step.bias_adds == keras_vectors * rows


def test_layers_without_bias_add_nothing() -> None:
    report = cost({"cell": "lstm", "input_size": 3, "hidden_size": 5, "bias": False})
    assert all(fc.step.bias_adds == 0 for fc in report.frameworks)


@pytest.mark.parametrize(
    ("cell", "sums", "activations", "gating"),
    [("rnn", 1, 1, 0), ("lstm", 4, 5, 4), ("gru", 3, 3, 5)],
)
def test_elementwise_work_per_step_is_a_fixed_multiple_of_hidden(
    cell: str, sums: int, activations: int, gating: int
) -> None:
    hidden = 7
    step = cost({"cell": cell, "input_size": 3, "hidden_size": hidden}).framework("torch").step
    assert (step.product_sums, step.activations, step.gating) == (
        sums * hidden,
        activations * hidden,
        gating * hidden,
    )
    assert step.flops == 2 * step.macs + step.bias_adds + (sums + activations + gating) * hidden


def test_lstm_projection_adds_p_times_h_and_shrinks_the_recurrent_product() -> None:
    step = cost({"cell": "lstm", "input_size": 10, "hidden_size": 8, "proj_size": 3}).framework("torch")
    assert step.step.macs == 4 * 8 * 10 + 4 * 8 * 3 + 3 * 8


def test_variable_lengths_count_real_steps_not_the_padded_rectangle() -> None:
    report = cost({"cell": "gru", "input_size": 4, "hidden_size": 6, "bidirectional": True}, (12, 30, 7))
    torch = report.framework("torch")
    assert report.workload.steps == 49
    assert report.workload.padded_steps == 90
    assert torch.total.macs == 2 * per_step_macs("gru", 4, 6) * 49


def test_unbatched_input_counts_one_sequence() -> None:
    report = cost({"cell": "rnn", "input_size": 4, "hidden_size": 6, "unbatched": True, "seq_len": 5})
    assert report.framework("torch").total.macs == per_step_macs("rnn", 4, 6) * 5
    assert not report.framework("keras").supported


def test_lengths_that_contradict_the_batch_size_are_rejected() -> None:
    from rnncalc.core.errors import SpecError

    with pytest.raises(SpecError, match="3 lengths given but batch_size is 2"):
        cost({"cell": "rnn", "input_size": 4, "hidden_size": 6, "batch_size": 2}, (1, 2, 3))
    with pytest.raises(SpecError, match="exceeds seq_len 5"):
        cost({"cell": "rnn", "input_size": 4, "hidden_size": 6, "seq_len": 5}, (9,))


def test_costs_need_a_known_input_size() -> None:
    from rnncalc.core.errors import SpecError

    with pytest.raises(SpecError, match="input_size"):
        cost({"cell": "rnn", "hidden_size": 6})


def test_inference_memory_matches_closed_forms_for_a_bidirectional_lstm() -> None:
    n, t, i, h, layers = 3, 5, 4, 6, 2
    spec = {
        "cell": "lstm",
        "input_size": i,
        "hidden_size": h,
        "num_layers": layers,
        "bidirectional": True,
        "batch_size": n,
        "seq_len": t,
    }
    memory = cost(spec, dtype=DType.FLOAT16).framework("torch").memory
    assert memory is not None
    inference = dict(memory.inference)
    assert inference["outputs"] == t * n * 2 * h + 2 * (layers * 2 * n * h)  # output, h_n, c_n
    assert inference["states"] == layers * 2 * n * 2 * h  # h and c per layer and direction
    assert inference["layer_sequences"] == t * n * 2 * h
    assert inference["gate_buffer"] == 2 * n * 4 * h
