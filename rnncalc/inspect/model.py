"""The result of inspecting one file: its tensors, the recurrent layers found in them, the rest.

``total_params`` is the sum of every tensor's size, which is what the framework itself counts
(``sum(t.numel() for t in state_dict.values())``, ``model.count_params()``, the ONNX
initializers); ``other_params`` is what the recurrent layers leave of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rnncalc.core.model import LAYER_FIELDS
from rnncalc.core.spec import Spec
from rnncalc.io.tensors import Tensor

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RecurrentLayer:
    """A recurrent layer found in a file: where, what spec its tensors imply, and which tensors.

    ``conventions`` is, per framework, what ``rnncalc.analyze(spec)`` says the same layer holds
    there (``model``, ``total_params``, ``reason`` when it cannot be expressed); ``difference``
    the summary's sentence on why the counts differ, or None.
    """

    prefix: str
    spec: Spec
    tensors: tuple[Tensor, ...]
    conventions: dict[str, dict[str, Any]]
    difference: str | None
    notes: tuple[str, ...] = ()

    @property
    def params(self) -> int:
        return sum(tensor.numel for tensor in self.tensors)

    def to_dict(self) -> dict[str, Any]:
        spec = self.spec.to_dict()
        return {
            "prefix": self.prefix,
            "spec": {name: spec[name] for name in LAYER_FIELDS},
            "params": self.params,
            "tensors": [tensor.name for tensor in self.tensors],
            "conventions": self.conventions,
            "difference": self.difference,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Inspection:
    """One file: its format, every tensor it holds and the recurrent layers among them."""

    file: str
    format: str
    convention: str
    tensors: tuple[Tensor, ...]
    recurrent: tuple[RecurrentLayer, ...]
    notes: tuple[str, ...] = ()
    #: True when the tensors were derived from a config (a Keras JSON), not read from weights.
    from_config: bool = False
    #: Tensor name → the layer holding it (``"head (Dense)"``), where the name does not say it.
    layer_of: Mapping[str, str] = field(default_factory=dict)
    #: Tensor names in the order the model uses them, where the file records it (an ONNX graph).
    order: tuple[str, ...] = ()
    #: What the file's config records of its parts beyond their weights, by layer name (see
    #: :meth:`~rnncalc.frameworks.contract.FrameworkConvention.recorded_parts`).
    recorded: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def total_params(self) -> int:
        return sum(tensor.numel for tensor in self.tensors)

    @property
    def other_params(self) -> int:
        return self.total_params - sum(layer.params for layer in self.recurrent)

    def owner(self) -> dict[str, str]:
        """Tensor name → the prefix of the recurrent layer holding it."""
        return {tensor.name: layer.prefix for layer in self.recurrent for tensor in layer.tensors}

    def to_dict(self) -> dict[str, Any]:
        owner = self.owner()
        return {
            "schema_version": SCHEMA_VERSION,
            "file": self.file,
            "format": self.format,
            "convention": self.convention,
            "from_config": self.from_config,
            "total_params": self.total_params,
            "tensors": [
                {
                    "name": tensor.name,
                    "shape": list(tensor.shape),
                    "dtype": tensor.dtype,
                    "params": tensor.numel,
                    "layer": self.layer_of.get(tensor.name),
                    "recurrent": owner.get(tensor.name),
                }
                for tensor in self.tensors
            ],
            "recurrent": [layer.to_dict() for layer in self.recurrent],
            "other_params": self.other_params,
            "notes": list(self.notes),
            **self.whole_dict(),
        }

    def whole_dict(self) -> dict[str, Any]:
        """The whole model: ``chains`` (parts in order, every convention's counts), the
        tensors no chain takes (``unplaced``, named in ``unplaced_notes``), and ``models``, the
        chains as a config file holds them (each with its ``source``), so the document is a
        config file too (``rnncalc summary`` reads it)."""
        from rnncalc.inspect.chain import find_chains, source_block

        chains, unplaced = find_chains(self)
        taken = {tensor.name for chain in chains for tensor in chain.tensors}
        return {
            "chains": [chain.to_dict() for chain in chains],
            "unplaced": [tensor.name for tensor in self.tensors if tensor.name not in taken],
            "unplaced_notes": list(unplaced),
            "models": [{**chain.to_dict()["model"], "source": source_block(self, chain)} for chain in chains],
        }
