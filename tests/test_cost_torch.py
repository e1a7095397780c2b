"""`rnncalc cost` against what PyTorch really computes and stores (needs torch)."""

from __future__ import annotations

from typing import Any

import pytest
from torch_measure import counted_matmul_flops

from rnncalc.cost.model import DType, cost

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_cells_stepped_one_at_a_time_do_exactly_the_counted_macs(cell: str) -> None:
    i, h, n, t = 5, 7, 3, 4
    module = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[cell](i, h)
    xs = torch.randn(t, n, i)

    def run() -> None:
        state = None
        for x in xs:
            state = module(x, state)

    ours = cost({"cell": cell, "input_size": i, "hidden_size": h, "batch_size": n, "seq_len": t})
    assert counted_matmul_flops(run) == 2 * ours.framework("torch").total.macs


@pytest.mark.parametrize(
    "spec",
    [
        {"cell": "lstm", "input_size": 5, "hidden_size": 8, "num_layers": 2, "bidirectional": True},
        {"cell": "lstm", "input_size": 5, "hidden_size": 8, "num_layers": 2, "proj_size": 3},
        {"cell": "gru", "input_size": 5, "hidden_size": 6, "num_layers": 3},
        {"cell": "rnn", "input_size": 5, "hidden_size": 6, "bidirectional": True, "batch_first": True},
    ],
    ids=["lstm-bi", "lstm-proj", "gru-3", "rnn-bi-batch-first"],
)
def test_whole_torch_modules_do_exactly_the_counted_macs(spec: dict[str, Any]) -> None:
    from rnncalc.core.spec import spec_from_mapping
    from rnncalc.frameworks.torch import build, input_shape

    concrete = spec_from_mapping({**spec, "batch_size": 3, "seq_len": 4})
    module = build(concrete)
    x = torch.randn(input_shape(concrete))
    expected = 2 * cost(concrete).framework("torch").total.macs
    assert counted_matmul_flops(lambda: module(x)) == expected


def test_packed_sequences_do_the_macs_of_their_real_lengths() -> None:
    lengths = (4, 2, 1)
    module = torch.nn.GRU(5, 6, bidirectional=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        torch.randn(4, 3, 5), list(lengths), enforce_sorted=False
    )
    ours = cost({"cell": "gru", "input_size": 5, "hidden_size": 6, "bidirectional": True}, lengths)
    assert counted_matmul_flops(lambda: module(packed)) == 2 * ours.framework("torch").total.macs


def test_unbatched_torch_input_does_the_counted_macs() -> None:
    module = torch.nn.LSTM(5, 6)
    spec = {"cell": "lstm", "input_size": 5, "hidden_size": 6, "unbatched": True, "seq_len": 7}
    expected = 2 * cost(spec).framework("torch").total.macs
    assert counted_matmul_flops(lambda: module(torch.randn(7, 5))) == expected


@pytest.mark.parametrize(
    ("dtype", "torch_dtype"), [("float32", "float32"), ("float16", "float16"), ("bfloat16", "bfloat16")]
)
def test_parameter_bytes_match_torch_storage(dtype: str, torch_dtype: str) -> None:
    module = torch.nn.LSTM(5, 8, num_layers=2, bidirectional=True, proj_size=3).to(
        getattr(torch, torch_dtype)
    )
    stored = sum(p.numel() * p.element_size() for p in module.parameters())
    spec = {
        "cell": "lstm",
        "input_size": 5,
        "hidden_size": 8,
        "num_layers": 2,
        "bidirectional": True,
        "proj_size": 3,
    }
    memory = cost(spec).framework("torch").memory
    assert memory is not None
    assert memory.param_bytes(DType(dtype)) == stored
    assert memory.param_bytes(DType.INT8) == sum(p.numel() for p in module.parameters())


def test_returned_tensor_memory_matches_a_real_torch_forward() -> None:
    module = torch.nn.LSTM(5, 8, num_layers=2, bidirectional=True)
    with torch.no_grad():
        output, (h_n, c_n) = module(torch.randn(4, 3, 5))
    spec = {
        "cell": "lstm",
        "input_size": 5,
        "hidden_size": 8,
        "num_layers": 2,
        "bidirectional": True,
        "batch_size": 3,
        "seq_len": 4,
    }
    memory = cost(spec).framework("torch").memory
    assert memory is not None
    assert dict(memory.inference)["outputs"] == output.numel() + h_n.numel() + c_n.numel()
