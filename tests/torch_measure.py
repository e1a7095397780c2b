"""What real PyTorch does, measured: matmul FLOPs by its counter, bytes autograd saves for backward.

Shared by the cost tests so each measures the same way; skips the importing module without torch.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402


def counted_matmul_flops(fn: Callable[[], object]) -> int:
    """FLOPs torch's counter attributes to mm/addmm/bmm (2 per MAC) while ``fn`` runs.

    oneDNN's fused RNN kernel hides its products from the counter, so it is switched off.
    """
    with (
        torch.no_grad(),
        warnings.catch_warnings(),
        torch.backends.mkldnn.flags(enabled=False),
        FlopCounterMode(display=False) as counter,
    ):
        warnings.simplefilter("ignore")
        fn()
    return int(counter.get_total_flops())


def saved_bytes(module: Any, inputs: Any, onednn: bool) -> int:
    """Bytes of the distinct non-parameter storages autograd saves during ``module(inputs)``.

    Every tensor saved for backward passes through ``saved_tensors_hooks``; parameters are left
    out because their bytes are the parameter line.
    """
    parameters = {p.untyped_storage().data_ptr() for p in module.parameters()}
    storages: dict[int, int] = {}

    def pack(tensor: Any) -> Any:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with (
        warnings.catch_warnings(),
        torch.backends.mkldnn.flags(enabled=onednn),
        torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor),
    ):
        warnings.simplefilter("ignore")  # "LSTM with projections is not supported with oneDNN"
        module(inputs)
    return sum(storages.values())
