"""Keras totals with ``--lengths`` against the rows a masked Keras layer really computes.

PyTorch runs only the real steps of a ``PackedSequence`` (tests/test_cost.py counts them). Keras
has no packed input: a mask only keeps each sample's state through its padding, and the cell
still runs on every sample at every padded step. Measured here by counting the rows each step
of a real Keras cell receives, with and without the mask.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("keras")
np = pytest.importorskip("numpy")

LENGTHS = (3, 7, 2)


def keras_rows_computed(cell: str, backwards: bool, masked: bool) -> int:
    """Rows (samples × steps) one direction's cell runs on for the padded batch of LENGTHS."""
    import keras

    bases = {"rnn": keras.layers.SimpleRNNCell, "lstm": keras.layers.LSTMCell, "gru": keras.layers.GRUCell}
    rows: list[int] = []

    class CountingCell(bases[cell]):  # type: ignore[misc, valid-type]
        def call(self, inputs: Any, states: Any, training: bool = False) -> Any:
            rows.append(int(inputs.shape[0]))
            return super().call(inputs, states, training=training)

    layer = keras.layers.RNN(CountingCell(5), go_backwards=backwards)
    longest = max(LENGTHS)
    x = np.random.default_rng(0).normal(size=(len(LENGTHS), longest, 4)).astype("float32")
    mask = np.arange(longest)[None, :] < np.array(LENGTHS)[:, None] if masked else None
    layer(x, mask=mask)  # builds the layer
    rows.clear()
    layer(x, mask=mask)
    return sum(rows)


@pytest.mark.parametrize("backwards", [False, True], ids=["forward", "backward"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_a_mask_saves_keras_no_rows_of_the_padded_batch(cell: str, backwards: bool) -> None:
    """Every step runs on all samples, masked or not (the TF backend also runs step 0 once more
    to learn the output shape, so the count is ``samples × (longest + 1)``)."""
    masked = keras_rows_computed(cell, backwards, masked=True)
    assert masked == keras_rows_computed(cell, backwards, masked=False)
    assert masked >= len(LENGTHS) * max(LENGTHS) > sum(LENGTHS)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_keras_batch_flops_with_lengths_equal_the_padded_batch(
    run_cli: Callable[..., Any], cell: str
) -> None:
    """What a mask saves Keras (nothing, measured above) is what --lengths may save its totals."""

    def keras_total(*flags: str) -> dict[str, int]:
        result = run_cli("cost", "-c", cell, "-i", "4", "-H", "5", *flags, "--format", "json")
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)["frameworks"]["keras"]["total"]  # type: ignore[no-any-return]

    padded = keras_total("-b", str(len(LENGTHS)), "-t", str(max(LENGTHS)))
    assert keras_total("--lengths", ",".join(map(str, LENGTHS))) == padded
