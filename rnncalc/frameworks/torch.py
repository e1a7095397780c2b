"""Build ``torch.nn.RNN``/``LSTM``/``GRU`` from a spec and measure it. Imports torch."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from rnncalc.core.calc import torch_block_output_size, torch_unsupported
from rnncalc.core.errors import SpecError
from rnncalc.core.model import Model
from rnncalc.core.spec import Cell, Framework, Spec
from rnncalc.frameworks import PROBE_BATCH, PROBE_SEQ_LEN, Measured, probe_spec

_MODULES: dict[Cell, type[nn.RNNBase]] = {Cell.RNN: nn.RNN, Cell.LSTM: nn.LSTM, Cell.GRU: nn.GRU}


def build(spec: Spec, device: str | torch.device = "cpu") -> nn.RNNBase:
    """The ``nn`` module for ``spec`` (``input_size`` must be known)."""
    reason = torch_unsupported(spec)
    if reason:
        raise SpecError("framework", f"PyTorch cannot express this spec: {reason}")
    if spec.input_size is None:
        raise SpecError("input_size", "is required to build a real model")
    kwargs: dict[str, Any] = {
        "input_size": spec.input_size,
        "hidden_size": spec.hidden_size,
        "num_layers": spec.num_layers,
        "bias": spec.bias,
        "batch_first": spec.batch_first,
        "bidirectional": spec.bidirectional,
        "device": device,
    }
    if spec.cell is Cell.RNN:
        kwargs["nonlinearity"] = spec.nonlinearity.value
    if spec.cell is Cell.LSTM:
        kwargs["proj_size"] = spec.proj_size
    return _MODULES[spec.cell](**kwargs)


def input_shape(spec: Spec) -> tuple[int, ...]:
    """The input tensor's shape for a spec whose batch and time are known."""
    assert spec.input_size is not None and spec.seq_len is not None
    if spec.unbatched:
        return (spec.seq_len, spec.input_size)
    assert spec.batch_size is not None
    if spec.batch_first:
        return (spec.batch_size, spec.seq_len, spec.input_size)
    return (spec.seq_len, spec.batch_size, spec.input_size)


def forward_shapes(module: nn.RNNBase, spec: Spec) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Run ``module`` on zeros and name its outputs as the docs do: output, h_n, c_n."""
    device = next(module.parameters()).device
    with torch.no_grad(), warnings.catch_warnings():
        # e.g. "LSTM with projections is not supported with oneDNN": noise, not a result.
        warnings.simplefilter("ignore")
        output, state = module(torch.zeros(input_shape(spec), device=device))
    states = state if isinstance(state, tuple) else (state,)
    named = zip(("h_n", "c_n"), states, strict=False)
    return (("output", tuple(output.shape)), *((name, tuple(t.shape)) for name, t in named))


def measure(spec: Spec, device: str = "cpu") -> Measured:
    """Build, count and run the module once on zeros.

    On ``device="meta"`` no memory is allocated: parameters have shapes but no data, and the
    forward pass still propagates shapes (PyTorch's meta kernels), so a model of hundreds of
    GB checks in well under a second. Should a PyTorch version lack a meta kernel for the
    forward pass, only the parameters are compared and the note says so.
    """
    probe = probe_spec(spec)
    module = build(probe, device=device)
    weights = tuple((name, tuple(p.shape)) for name, p in module.named_parameters())
    total = sum(p.numel() for p in module.parameters())
    try:
        outputs = forward_shapes(module, probe)
    except (NotImplementedError, RuntimeError) as error:
        if device != "meta":
            raise
        note = f"output shapes not checked: the forward pass failed on the meta device ({error})"
        return Measured(Framework.TORCH, total, weights, (), probe, device, False, note)
    return Measured(Framework.TORCH, total, weights, outputs, probe, device)


# --- Heterogeneous models --------------------------------------------------------------------


class SequenceModel(nn.Module):  # type: ignore[misc]
    """Modules run in order, like ``nn.Sequential`` but passing only a recurrent module's
    ``output`` (``nn.Sequential`` would hand on the ``(output, h_n)`` tuple).

    ``nn.Linear`` heads act on the last dimension, i.e. on every time step; the model returns
    the last module's output. Parameters are named by module index (``1.weight_ih_l0``).
    """

    def __init__(self, modules: list[nn.Module]) -> None:
        super().__init__()
        for index, module in enumerate(modules):
            self.add_module(str(index), module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():
            x = module(x)
            if isinstance(x, tuple):
                x = x[0]
        return x


def build_model(model: Model, device: str | torch.device = "cpu") -> SequenceModel:
    """The :class:`SequenceModel` for ``model`` (its input size must be known)."""
    reason = next(
        (f"layers[{i}]: {r}" for i, s in enumerate(model.layers) if (r := torch_unsupported(s))), None
    )
    if reason:
        raise SpecError("framework", f"PyTorch cannot express this model: {reason}")
    if model.input_size is None:
        raise SpecError("input_size", "is required to build a real model")
    modules: list[nn.Module] = []
    size = model.input_size
    if model.embedding is not None:
        modules.append(nn.Embedding(model.embedding.vocab_size, model.embedding.dim, device=device))
    for spec in model.layers:
        modules.append(build(spec.replace(input_size=size), device))
        size = torch_block_output_size(spec)
    for head in model.dense:
        modules.append(nn.Linear(size, head.units, bias=head.bias, device=device))
        size = head.units
    return SequenceModel(modules)


def model_input(model: Model, batch: int, seq_len: int) -> torch.Tensor:
    """Zeros of the model's input: token ids after an embedding, else features."""
    lead = (batch, seq_len) if model.batch_first else (seq_len, batch)
    if model.embedding is not None:
        return torch.zeros(lead, dtype=torch.long)
    assert model.input_size is not None
    return torch.zeros((*lead, model.input_size))


def measure_model(model: Model) -> Measured:
    """Build, count and run the real PyTorch model once (unknown batch/time → small probes)."""
    batch = model.batch_size or PROBE_BATCH
    seq_len = model.seq_len or PROBE_SEQ_LEN
    module = build_model(model)
    weights = tuple((name, tuple(p.shape)) for name, p in module.named_parameters())
    total = sum(p.numel() for p in module.parameters())
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        output = module(model_input(model, batch, seq_len))
    probe = model.layers[0].replace(batch_size=batch, seq_len=seq_len)
    return Measured(Framework.TORCH, total, weights, (("output", tuple(output.shape)),), probe)


# --- Numerical verification (rnncalc verify) -------------------------------------------------


def build_seeded(spec: Spec, seed: int) -> nn.RNNBase:
    """The module for ``spec`` with weights initialised after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return build(spec)


def weights_numpy(module: nn.RNNBase) -> dict[str, np.ndarray[Any, Any]]:
    """The module's ``state_dict`` as float32 numpy arrays, keyed by parameter name."""
    return {name: t.detach().cpu().numpy().astype(np.float32) for name, t in module.state_dict().items()}


def run(module: nn.RNNBase, spec: Spec, x: np.ndarray[Any, Any]) -> dict[str, np.ndarray[Any, Any]]:
    """Forward ``x`` (in the spec's input layout) and name the results: output, h_n (, c_n)."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        output, state = module(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    states = state if isinstance(state, tuple) else (state,)
    named = {"output": output, **dict(zip(("h_n", "c_n"), states, strict=False))}
    return {name: t.detach().cpu().numpy() for name, t in named.items()}
