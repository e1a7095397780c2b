"""Training figures against what PyTorch really does: saved tensors, counted FLOPs, optimizer state.

Memory is measured with ``torch.autograd.graph.saved_tensors_hooks``: every tensor autograd saves
for backward passes through the hook; the test sums the bytes of the distinct storages behind
them, parameters excluded (their bytes are the parameter line). Nothing here restates rnncalc's
formulas: each expected figure is read off a real module.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from torch_measure import saved_bytes

from rnncalc.cost.model import DType, Memory, Optimizer, cost

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

MODULES = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
CELLS = [
    ("rnn", {}),
    ("rnn", {"nonlinearity": "relu"}),
    ("lstm", {}),
    ("lstm", {"proj_size": 4}),
    ("gru", {}),
]
CASES = [
    pytest.param(
        (cell, extra, bias, bidirectional, layers),
        id=f"{cell}{extra or ''}-bias{bias}-bi{bidirectional}-L{layers}",
    )
    for (cell, extra), bias, bidirectional, layers in itertools.product(
        CELLS, (True, False), (False, True), (1, 2)
    )
]


@dataclass(frozen=True)
class Built:
    """One CASES module, its random input and rnncalc's memory figures for the same spec."""

    cell: str
    extra: dict[str, Any]
    module: Any
    inputs: Any
    memory: Memory


@pytest.fixture(params=[(3, 5, 7, 11), (8, 20, 40, 32)], ids=["small", "wider"])
def shape(request: pytest.FixtureRequest) -> tuple[int, int, int, int]:
    """(batch, steps, inputs, hidden)."""
    value: tuple[int, int, int, int] = request.param
    return value


@pytest.fixture(params=CASES)
def built(request: pytest.FixtureRequest, shape: tuple[int, int, int, int]) -> Built:
    cell, extra, bias, bidirectional, layers = request.param
    batch, steps, inputs, hidden = shape
    module = MODULES[cell](inputs, hidden, num_layers=layers, bidirectional=bidirectional, bias=bias, **extra)
    spec = {
        "cell": cell,
        "input_size": inputs,
        "hidden_size": hidden,
        "num_layers": layers,
        "bidirectional": bidirectional,
        "bias": bias,
        "batch_size": batch,
        "seq_len": steps,
        **extra,
    }
    memory = cost(spec).framework("torch").memory
    assert memory is not None
    return Built(cell, extra, module, torch.randn(steps, batch, inputs), memory)


def activation_bytes(memory: Memory) -> int:
    return memory.training_bytes(DType.FLOAT32) - 2 * memory.param_bytes(DType.FLOAT32)


def within_ten_percent(estimate: int, measured: int) -> bool:
    return abs(estimate - measured) <= 0.10 * measured


def test_training_memory_is_what_torch_saves_for_backward_with_onednn_off(built: Built) -> None:
    measured = saved_bytes(built.module, built.inputs, onednn=False)
    estimate = activation_bytes(built.memory)
    assert within_ten_percent(estimate, measured), (estimate, measured)


def test_training_memory_on_torchs_default_cpu_path_adds_the_onednn_workspace_where_it_runs(
    built: Built,
) -> None:
    module, inputs, memory = built.module, built.inputs, built.memory
    measured = saved_bytes(module, inputs, onednn=True)
    default_path = memory.onednn_training_bytes(DType.FLOAT32)
    if default_path is None:  # aten's kernels: the same tensors as with oneDNN off
        assert measured == saved_bytes(module, inputs, onednn=False)
        estimate = activation_bytes(memory)
    else:
        assert built.cell == "lstm" and not built.extra
        estimate = default_path - 2 * memory.param_bytes(DType.FLOAT32)
    assert within_ten_percent(estimate, measured), (estimate, measured)


@pytest.mark.parametrize(
    "shape",
    [
        (1, 1, 1, 1),
        (9, 37, 33, 131),
        (25, 51, 108, 49),
        (36, 52, 131, 17),
        (23, 1, 276, 277),
        (32, 50, 100, 128),
    ],
)
def test_the_onednn_workspace_estimate_is_close_to_the_buffer_torch_saves(
    shape: tuple[int, int, int, int],
) -> None:
    batch, steps, inputs, hidden = shape
    module = torch.nn.LSTM(inputs, hidden)
    workspaces: list[int] = []

    def pack(tensor: Any) -> Any:
        if tensor.dtype == torch.uint8:  # oneDNN's workspace is the one byte tensor
            workspaces.append(tensor.untyped_storage().nbytes())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        module(torch.randn(steps, batch, inputs))
    memory = (
        cost(
            {
                "cell": "lstm",
                "input_size": inputs,
                "hidden_size": hidden,
                "batch_size": batch,
                "seq_len": steps,
            }
        )
        .framework("torch")
        .memory
    )
    assert memory is not None
    (measured,) = workspaces
    estimate = dict(memory.onednn)["workspace"] * 4
    assert within_ten_percent(estimate, measured), (estimate, measured)


@pytest.mark.parametrize(
    ("cell", "layers", "bidirectional"), [("rnn", 1, False), ("lstm", 2, True), ("gru", 2, False)]
)
def test_training_matmul_flops_are_what_torchs_counter_sees_forward_and_backward(
    cell: str, layers: int, bidirectional: bool
) -> None:
    batch, steps, inputs, hidden = 3, 5, 7, 11
    directions = 2 if bidirectional else 1
    module = MODULES[cell](inputs, hidden, num_layers=layers, bidirectional=bidirectional)
    # Input and initial states need gradients, so every product's two gradient products run.
    x = torch.randn(steps, batch, inputs, requires_grad=True)
    h0 = torch.zeros(layers * directions, batch, hidden, requires_grad=True)
    state = (h0, torch.zeros_like(h0, requires_grad=True)) if cell == "lstm" else h0
    with torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as counter:
        module(x, state)[0].sum().backward()
    spec = {
        "cell": cell,
        "input_size": inputs,
        "hidden_size": hidden,
        "num_layers": layers,
        "bidirectional": bidirectional,
        "batch_size": batch,
        "seq_len": steps,
    }
    total = cost(spec).framework("torch").total
    assert total.to_dict()["training_matmul_flops"] == counter.get_total_flops()
    assert total.training_flops == 3 * total.flops


@pytest.mark.parametrize(
    ("optimizer", "make"),
    [
        (Optimizer.ADAM, lambda params: torch.optim.Adam(params)),
        (Optimizer.SGD, lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9)),
        (Optimizer.NONE, lambda params: torch.optim.SGD(params, lr=0.1)),
    ],
)
def test_optimizer_state_is_what_torch_optim_keeps_after_a_step(optimizer: Optimizer, make: Any) -> None:
    module = torch.nn.GRU(6, 10, num_layers=2, bidirectional=True)
    step = make(module.parameters())
    module(torch.randn(4, 3, 6))[0].sum().backward()
    step.step()
    kept = sum(
        value.numel() * value.element_size()
        for state in step.state.values()
        for name, value in state.items()
        if torch.is_tensor(value) and name != "step"  # the scalar step counter is not counted
    )
    spec = {"cell": "gru", "input_size": 6, "hidden_size": 10, "num_layers": 2, "bidirectional": True}
    memory = cost(spec, optimizer=optimizer).framework("torch").memory
    assert memory is not None
    assert memory.optimizer_bytes(DType.FLOAT32, optimizer) == kept
