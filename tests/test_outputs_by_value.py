"""The returned tensors rnncalc names are the ones the frameworks return, told apart by value.

Shape tests cannot tell ``state_h`` from ``state_c`` (both ``(N, H)``). Here the real layer runs,
its returned tensors are paired with rnncalc's names in rnncalc's order, and each name must hold
what that name means: ``state_h`` is the last step of the output sequence, and for one step from
a zero state ``state_c = i⊙g`` and ``state_h = o⊙tanh(state_c)``, computed here from the layer's
own kernels (Keras gate order i, f, c, o; PyTorch i, f, g, o).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

np = pytest.importorskip("numpy")


def sigmoid(x: Any) -> Any:
    return 1 / (1 + np.exp(-x))


def rnncalc_names(run_json: Callable[..., Any], framework: str, *flags: str) -> list[str]:
    document = run_json("summary", *flags)
    return list(document["frameworks"][framework]["outputs"])


# --- Keras ---------------------------------------------------------------------------------


def keras_outputs(cell: str, flags: dict[str, Any], x: Any) -> tuple[list[Any], Any]:
    """Run one Keras layer (built here, unnamed) on ``x``; its returned tensors and the layer."""
    pytest.importorskip("keras")
    import keras

    classes = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}
    layer = classes[cell](3, return_state=True, return_sequences=flags.get("return_sequences", False), seed=1)
    if flags.get("bidirectional"):
        layer = keras.layers.Bidirectional(layer, merge_mode=flags.get("merge_mode", "concat"))
    result = layer(x)
    return [np.asarray(tensor) for tensor in result], layer


KERAS_CASES: dict[str, dict[str, Any]] = {
    "lstm": {},
    "lstm-sequences": {"return_sequences": True},
    "gru": {},
    "rnn-sequences": {"return_sequences": True},
    "lstm-bi-concat": {"bidirectional": True},
    "lstm-bi-sum": {"bidirectional": True, "merge_mode": "sum"},
    "lstm-bi-none-sequences": {"bidirectional": True, "merge_mode": None, "return_sequences": True},
    "gru-bi-none": {"bidirectional": True, "merge_mode": None},
}


def keras_flags(cell: str, flags: dict[str, Any]) -> list[str]:
    args = ["-c", cell, "-H", "3", "-i", "2", "-b", "4", "-t", "5", "--return-state"]
    if flags.get("return_sequences"):
        args.append("--return-sequences")
    if flags.get("bidirectional"):
        args += ["--bi", "--merge-mode", flags.get("merge_mode", "concat") or "none"]
    return args


def last_step(output: Any, sequences: bool, backward: bool = False) -> Any:
    """The step a direction ends on: the last one, or the first for Keras's backward sequence."""
    if not sequences:
        return output
    return output[:, 0] if backward else output[:, -1]


@pytest.mark.parametrize("case", sorted(KERAS_CASES))
def test_keras_states_are_named_in_the_order_keras_returns_them(
    run_json: Callable[..., Any], case: str
) -> None:
    cell = case.split("-")[0]
    flags = KERAS_CASES[case]
    x = np.random.default_rng(0).normal(size=(4, 5, 2)).astype("float32")
    tensors, _ = keras_outputs(cell, flags, x)
    names = rnncalc_names(run_json, "keras", *keras_flags(cell, flags))
    assert len(names) == len(tensors)
    named = dict(zip(names, tensors, strict=True))
    sequences = flags.get("return_sequences", False)
    merge = flags.get("merge_mode", "concat")
    if not flags.get("bidirectional"):
        np.testing.assert_allclose(named["state_h"], last_step(named["output"], sequences), rtol=1e-6)
        return
    forward, backward = named["forward_state_h"], named["backward_state_h"]
    # Keras's backward output sequence is returned in input order: its final state is at step 0.
    if merge is None:
        np.testing.assert_allclose(forward, last_step(named["output_forward"], sequences), rtol=1e-6)
        np.testing.assert_allclose(backward, last_step(named["output_backward"], sequences, True), rtol=1e-6)
    elif merge == "concat":
        np.testing.assert_allclose(named["output"], np.concatenate([forward, backward], axis=-1), rtol=1e-6)
    else:
        np.testing.assert_allclose(named["output"], forward + backward, rtol=1e-5)


def test_keras_lstm_state_c_is_the_cell_state_and_state_h_its_gated_tanh(
    run_json: Callable[..., Any],
) -> None:
    """One step from zero: c = σ(i)⊙tanh(g), h = σ(o)⊙tanh(c), from the layer's kernel and bias."""
    x = np.random.default_rng(1).normal(size=(4, 1, 2)).astype("float32")
    tensors, layer = keras_outputs("lstm", {}, x)
    args = ["-c", "lstm", "-H", "3", "-i", "2", "-b", "4", "-t", "1", "--return-state"]
    named = dict(zip(rnncalc_names(run_json, "keras", *args), tensors, strict=True))
    kernel, _, bias = (np.asarray(w) for w in layer.weights)
    z = x[:, 0] @ kernel + bias
    i, _f, g, o = np.split(z, 4, axis=-1)  # Keras: i, f, c, o
    c = sigmoid(i) * np.tanh(g)
    np.testing.assert_allclose(named["state_c"], c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(named["state_h"], sigmoid(o) * np.tanh(c), rtol=1e-5, atol=1e-6)


# --- PyTorch -------------------------------------------------------------------------------


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_torch_returns_are_named_in_the_order_torch_returns_them(
    run_json: Callable[..., Any], cell: str, bidirectional: bool
) -> None:
    torch = pytest.importorskip("torch")
    classes = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    torch.manual_seed(0)
    module = classes[cell](2, 3, num_layers=2, bidirectional=bidirectional)
    x = torch.randn(5, 4, 2)
    with torch.no_grad():
        output, state = module(x)
    states = list(state) if isinstance(state, tuple) else [state]
    args = ["-c", cell, "-H", "3", "-i", "2", "-l", "2", "-b", "4", "-t", "5"] + (
        ["--bi"] if bidirectional else []
    )
    names = rnncalc_names(run_json, "torch", *args)
    named = dict(zip(names, [output.numpy(), *(s.numpy() for s in states)], strict=True))
    # h_n is (D·layers, N, H), the last layer's directions last; output is (L, N, D·H).
    h_n = named["h_n"]
    directions = 2 if bidirectional else 1
    np.testing.assert_allclose(h_n[-directions], named["output"][-1, :, :3], rtol=1e-6)
    if bidirectional:
        np.testing.assert_allclose(h_n[-1], named["output"][0, :, 3:], rtol=1e-6)
    if cell == "lstm":
        assert not np.allclose(named["c_n"], h_n)


def test_torch_lstm_c_n_is_the_cell_state_and_h_n_its_gated_tanh(run_json: Callable[..., Any]) -> None:
    """One step from zero: c = σ(i)⊙tanh(g), h = σ(o)⊙tanh(c), from weight_ih and both biases."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    module = torch.nn.LSTM(2, 3)
    x = torch.randn(1, 4, 2)
    with torch.no_grad():
        output, (h, c) = module(x)
    args = ["-c", "lstm", "-H", "3", "-i", "2", "-b", "4", "-t", "1"]
    named = dict(
        zip(rnncalc_names(run_json, "torch", *args), [output.numpy(), h.numpy(), c.numpy()], strict=True)
    )
    weights = {name: p.detach().numpy() for name, p in module.named_parameters()}
    z = x[0].numpy() @ weights["weight_ih_l0"].T + weights["bias_ih_l0"] + weights["bias_hh_l0"]
    i, _f, g, o = np.split(z, 4, axis=-1)  # PyTorch: i, f, g, o
    cell_state = sigmoid(i) * np.tanh(g)
    np.testing.assert_allclose(named["c_n"][0], cell_state, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(named["h_n"][0], sigmoid(o) * np.tanh(cell_state), rtol=1e-5, atol=1e-6)
