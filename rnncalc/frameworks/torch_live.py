"""A PyTorch ``nn.Module`` in memory, read as its ``state_dict()`` saved and inspected, with
what the module tree adds to the tensors: each recurrent module's own arguments (an
``nn.RNN``'s ``nonlinearity`` is known, not assumed) and, named, every module with
parameters of its own that rnncalc does not describe (attention, convolution, a custom one).

Imported by :meth:`~rnncalc.core.convention.Convention.read_object` for an object whose class
comes from ``torch``: torch is imported already.
"""

from __future__ import annotations

from typing import Any

from rnncalc.core.spec import Nonlinearity
from rnncalc.frameworks.inspection import Inspection, LiveObject, RecurrentLayer, label, layer_for, type_name
from rnncalc.frameworks.torch_files import find_layers
from rnncalc.io.tensor_data import TensorData
from rnncalc.io.tensors import FileContents, Tensor

#: The document's ``format`` for a live module.
FORMAT = "torch.nn.Module"
#: The note :func:`~rnncalc.frameworks.torch_files.find_layers` adds where the weights leave
#: the nonlinearity open, which a live ``nn.RNN`` states.
ASSUMED = "nonlinearity (tanh or relu) is not recorded in the weights; tanh assumed"


def read_object(obj: Any) -> LiveObject:
    """``obj.state_dict()``'s tensors (detached views, not copies), found as the saved state
    dict's are, then told what the modules themselves say."""
    import torch
    from torch import nn

    if not isinstance(obj, nn.Module):
        raise TypeError(f"rnncalc reads a PyTorch nn.Module, not {type_name(obj)}")
    file = label(obj)
    state = obj.state_dict()
    tensors = tuple(
        Tensor(name, tuple(int(d) for d in value.shape), str(value.dtype).removeprefix("torch."))
        for name, value in state.items()
    )
    contents = FileContents(tensors=tensors)
    recurrent, notes, tensors, _ = find_layers(file, contents)
    modules = dict(obj.named_modules())
    recurrent = [_told(layer, modules.get(layer.prefix), nn) for layer in recurrent]
    owners, unplaced = _undescribed(obj, state, {t.name for layer in recurrent for t in layer.tensors}, nn)
    inspection = Inspection(
        file=file,
        format=FORMAT,
        convention="torch",
        tensors=tensors,
        recurrent=tuple(recurrent),
        notes=(*notes, *unplaced),
        layer_of=owners,
    )

    def read(name: str) -> Any:
        import numpy as np

        tensor = state[name].detach()
        if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16
            tensor = tensor.float()
        return tensor.cpu().numpy().astype(np.float32, copy=False)

    return LiveObject(inspection, TensorData(list(state), read, lambda: None), "pytorch state dict", contents)


def _told(layer: RecurrentLayer, module: Any, nn: Any) -> RecurrentLayer:
    """``layer`` as its module states it: an ``nn.RNN``'s or ``nn.RNNCell``'s nonlinearity
    (torch/nn/modules/rnn.py: ``RNNBase.__init__``, ``RNNCellBase``), ``batch_first``."""
    if not isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        return layer
    changes: dict[str, Any] = {"batch_first": bool(getattr(module, "batch_first", False))}
    nonlinearity = getattr(module, "nonlinearity", None)
    if nonlinearity is not None:
        changes["nonlinearity"] = Nonlinearity(nonlinearity)
    spec = layer.spec.replace(**changes)
    notes = tuple(note for note in layer.notes if note != ASSUMED)
    if spec == layer.spec and notes == layer.notes:
        return layer
    return layer_for(layer.prefix, spec, layer.tensors, notes)


def _described(nn: Any) -> tuple[type, ...]:
    """Module types whose parameters rnncalc's model description holds: the recurrent layers and
    cells, ``nn.Embedding``, ``nn.Linear``, ``nn.LayerNorm`` (see :mod:`rnncalc.core.model`)."""
    return (nn.RNNBase, nn.RNNCellBase, nn.Embedding, nn.Linear, nn.LayerNorm)


def _undescribed(
    obj: Any, state: dict[str, Any], recurrent: set[str], nn: Any
) -> tuple[dict[str, str], tuple[str, ...]]:
    """Each module holding parameters or buffers of its own whose type rnncalc does not describe,
    outermost first (an ``nn.MultiheadAttention``, with its ``out_proj``): the owner of its
    tensors in ``state`` (``attn (MultiheadAttention)``) and one note naming it. A top-level
    module is the owner of its own tensors only; any other, of everything under it."""
    described = _described(nn)
    owners: dict[str, str] = {}
    notes: list[str] = []
    named: set[str] = set()
    for path, module in obj.named_modules():
        parts = path.split(".")
        if isinstance(module, described) or any(".".join(parts[:k]) in named for k in range(1, len(parts))):
            continue
        prefix = f"{path}." if path else ""
        own = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
        if not any(prefix + name in state for name, _ in own):
            continue
        held = [prefix + name for name, _ in own] if not path else [n for n in state if n.startswith(prefix)]
        held = [name for name in held if name in state and name not in recurrent]
        if path:
            named.add(path)
        owner = f"{path} ({type(module).__name__})" if path else f"(top level: {type(module).__name__})"
        owners.update((name, owner) for name in held)
        count = sum(state[name].numel() for name in held)
        notes.append(
            f"{owner}: a module rnncalc does not describe; its {count:,} parameters stay among "
            "the other tensors"
        )
    return owners, tuple(notes)
