"""Flax NNX's weights: the real model run with canonical weights moved into Flax's layout
equals the numpy reference, conversions round-trip, and what Flax cannot hold is refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rnncalc.core.errors import ConversionError
from rnncalc.core.spec import Cell, Spec, spec_from_mapping
from rnncalc.frameworks.flax import CONVENTION
from rnncalc.reference import StackWeights, random_weights

pytest.importorskip("flax")

from flax import nnx

TOLERANCE = 1e-5


def spec(**fields: Any) -> Spec:
    batch = {} if fields.get("unbatched") else {"batch_size": 2}
    return spec_from_mapping({**batch, "seq_len": 4, **fields})


def flax_expressible(config: Spec, seed: int) -> StackWeights:
    """Random canonical weights with every GRU ``b_hn`` zero (nnx.GRUCell has none); the other
    recurrent biases stay nonzero, so folding them into the input bias is exercised."""
    weights = random_weights(config, seed)
    if config.cell is Cell.GRU:
        for layer in weights.layers:
            for direction in layer:
                direction.b_h[2 * config.hidden_size :] = 0.0
    return weights


VERIFIED = [
    spec(cell="rnn", input_size=5, hidden_size=3),
    spec(cell="rnn", input_size=5, hidden_size=3, nonlinearity="relu", bidirectional=True, merge_mode="mul"),
    spec(cell="lstm", input_size=5, hidden_size=4),
    spec(cell="lstm", input_size=3, hidden_size=4, num_layers=2, bidirectional=True),
    spec(cell="lstm", input_size=3, hidden_size=2, bidirectional=True, merge_mode="ave", unbatched=True),
    spec(cell="gru", input_size=5, hidden_size=3),
    spec(cell="gru", input_size=4, hidden_size=3, num_layers=3),
    spec(cell="gru", input_size=4, hidden_size=3, num_layers=2, bidirectional=True, merge_mode="sum"),
]


@pytest.mark.parametrize("config", VERIFIED, ids=lambda s: s.cell.value)
def test_real_flax_with_converted_weights_equals_the_numpy_reference(config: Spec) -> None:
    weights = flax_expressible(config, seed=7)
    x = np.random.default_rng(3).standard_normal(CONVENTION.input_shape(config)).astype(np.float32)
    real = CONVENTION.run_real(config, CONVENTION.from_canonical(config, weights), x)
    expected = CONVENTION.reference_forward(config, weights, x)
    assert list(real) == list(expected) == [name for name, _ in CONVENTION.report(config).outputs]
    for name, value in expected.items():
        assert real[name].shape == value.shape, name
        np.testing.assert_allclose(real[name], value, rtol=0, atol=TOLERANCE, err_msg=name)


def initial_weights(config: Spec) -> dict[str, np.ndarray[Any, Any]]:
    """The real model's own initial parameters, keyed by path."""
    model = CONVENTION.build(config, seed=1)
    flat = nnx.to_flat_state(nnx.state(model, nnx.Param))
    return {".".join(map(str, path)): np.asarray(variable.get_value()) for path, variable in flat}


@pytest.mark.parametrize("config", VERIFIED[:1] + VERIFIED[2:4] + VERIFIED[5:], ids=lambda s: s.cell.value)
def test_flax_weights_survive_the_trip_through_canonical_unchanged(config: Spec) -> None:
    arrays = initial_weights(config)
    back = CONVENTION.from_canonical(config, CONVENTION.to_canonical(config, arrays))
    assert sorted(back) == sorted(arrays)
    for name, value in arrays.items():
        np.testing.assert_array_equal(back[name], value, err_msg=name)


def test_an_lstm_bias_lands_on_the_hidden_side_as_the_sum_of_both_canonical_biases() -> None:
    config = spec(cell="lstm", input_size=2, hidden_size=3)
    weights = random_weights(config, 0)
    direction = weights.layers[0][0]
    arrays = CONVENTION.from_canonical(config, weights)
    # Canonical gate order i, f, g, o is LSTMCell's hi, hf, hg, ho.
    np.testing.assert_array_equal(arrays["cell.hg.bias"], (direction.b_x + direction.b_h)[6:9])
    np.testing.assert_array_equal(arrays["cell.ig.kernel"], direction.w_x[6:9].T)
    assert not any(name.startswith("cell.i") and name.endswith("bias") for name in arrays)


def test_a_nonzero_gru_reset_bias_cannot_move_into_flax() -> None:
    config = spec(cell="gru", input_size=4, hidden_size=3, num_layers=2)
    weights = flax_expressible(config, seed=0)
    CONVENTION.from_canonical(config, weights)  # zero b_hn: fine
    weights.layers[1][0].b_h[-1] = 0.25
    with pytest.raises(ConversionError, match=r"layer 1: nnx\.GRUCell has no recurrent bias; b_hn"):
        CONVENTION.from_canonical(config, weights)


def test_pytorch_weights_moved_into_flax_give_pytorch_outputs() -> None:
    """Independent of the numpy reference: real PyTorch against real Flax, same weights."""
    torch = pytest.importorskip("torch")
    from rnncalc.frameworks.torch import CONVENTION as TORCH_CONVENTION

    for cell in ("lstm", "gru"):
        config = spec(
            cell=cell, input_size=3, hidden_size=4, num_layers=2, bidirectional=True, batch_first=True
        )
        torch.manual_seed(0)
        module = getattr(torch.nn, cell.upper())(3, 4, num_layers=2, bidirectional=True, batch_first=True)
        if cell == "gru":
            with torch.no_grad():
                for name, parameter in module.named_parameters():
                    if name.startswith("bias_hh"):
                        parameter[8:] = 0.0  # b_hn: nnx.GRUCell has no place for it
        state = {name: t.detach().numpy() for name, t in module.state_dict().items()}
        x = np.random.default_rng(1).standard_normal((2, 4, 3)).astype(np.float32)
        with torch.no_grad():
            output, _ = module(torch.from_numpy(x))
        arrays = CONVENTION.from_canonical(config, TORCH_CONVENTION.to_canonical(config, state))
        real = CONVENTION.run_real(config, arrays, x)
        np.testing.assert_allclose(real["outputs"], output.numpy(), rtol=0, atol=TOLERANCE)


def test_random_weights_of_a_summed_bidirectional_stack_give_layer_1_one_width_of_input() -> None:
    """Only concatenation widens the next layer's input (``reference.random_weights``)."""
    summed = spec(cell="gru", input_size=4, hidden_size=3, num_layers=2, bidirectional=True, merge_mode="sum")
    assert random_weights(summed).layers[1][0].w_x.shape == (9, 3)
    concatenated = summed.replace(merge_mode=summed.merge_mode.CONCAT)
    assert random_weights(concatenated).layers[1][0].w_x.shape == (9, 6)
