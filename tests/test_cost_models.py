"""Costs of config-file models (embedding → recurrent blocks → dense heads) against real PyTorch."""

from __future__ import annotations

from typing import Any

import pytest
from torch_measure import counted_matmul_flops, saved_bytes

from rnncalc.core.model import Model, build_model
from rnncalc.cost.model import DType, FrameworkCost, cost

torch = pytest.importorskip("torch")

BATCH, STEPS = 4, 10


class Stack(torch.nn.Module):  # type: ignore[misc,name-defined]
    """Modules run in order, each recurrent one handing on its output sequence."""

    def __init__(self, modules: list[Any]) -> None:
        super().__init__()
        self.stack = torch.nn.ModuleList(modules)

    def forward(self, x: Any) -> Any:
        for module in self.stack:
            x = module(x)
            if isinstance(x, tuple):
                x = x[0]
        return x


def embedding_gru_lstm_dense() -> tuple[Model, Any, Any]:
    model = build_model(
        [{"cell": "gru", "hidden_size": 32, "bidirectional": True}, {"cell": "lstm", "hidden_size": 16}],
        {"vocab_size": 50, "dim": 8},
        [{"units": 12, "activation": "relu"}, {"units": 5}],
        batch_size=BATCH,
        seq_len=STEPS,
    )
    net = Stack(
        [
            torch.nn.Embedding(50, 8),
            torch.nn.GRU(8, 32, bidirectional=True),
            torch.nn.LSTM(64, 16),
            torch.nn.Linear(16, 12),
            torch.nn.Linear(12, 5),
        ]
    )
    return model, net, torch.randint(0, 50, (STEPS, BATCH))


def torch_cost(model: Model) -> FrameworkCost:
    return cost(model).framework("torch")


def test_a_models_matmul_flops_are_what_torchs_counter_sees() -> None:
    model, net, tokens = embedding_gru_lstm_dense()
    fc = torch_cost(model)
    assert 2 * fc.total.macs == counted_matmul_flops(lambda: net(tokens))
    assert fc.params == sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("onednn", [False, True], ids=["onednn-off", "default-path"])
def test_a_models_training_memory_is_within_ten_percent_of_what_torch_saves(onednn: bool) -> None:
    model, net, tokens = embedding_gru_lstm_dense()
    measured = saved_bytes(net, tokens, onednn)
    memory = torch_cost(model).memory
    assert memory is not None
    total = memory.onednn_training_bytes(DType.FLOAT32) if onednn else memory.training_bytes(DType.FLOAT32)
    assert total is not None
    estimate = total - 2 * memory.param_bytes(DType.FLOAT32)
    assert abs(estimate - measured) <= 0.10 * measured, (estimate, measured)


def test_keras_dense_heads_after_a_last_state_run_once_per_sample_and_torchs_every_step() -> None:
    model, _, _ = embedding_gru_lstm_dense()
    report = cost(model)
    torch_heads = report.framework("torch").heads
    keras_heads = report.framework("keras").heads
    assert [h.per_sample for h in torch_heads] == [STEPS, STEPS]
    assert [h.per_sample for h in keras_heads] == [1, 1]
    assert [h.step.macs for h in keras_heads] == [16 * 12, 12 * 5]
