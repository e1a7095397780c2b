"""What a convention's readers return: the layers found in a file, its inspection, an object read.

A finder (:meth:`~rnncalc.frameworks.contract.FrameworkConvention.find_layers`, which each
framework module implements for the files it reads) takes a file's contents and returns the
recurrent layers it found (:data:`Found`). Each checks an inferred spec the other way round:
:func:`expected_weights` (what every registered convention holds for the spec, as
``rnncalc.analyze`` reports it) must be exactly the tensors found, or the tensors stay "other"
with a note saying why. A convention reading a model in memory
(:meth:`~rnncalc.frameworks.contract.FrameworkConvention.read_object`) returns a
:class:`LiveObject`. ``rnncalc inspect`` (:mod:`rnncalc.inspect`) builds on these: the whole
model's chains (:func:`rnncalc.inspect.chain.document`), the tables.

``total_params`` is the sum of every tensor's size, which is what the framework itself counts
(``sum(t.numel() for t in state_dict.values())``, ``model.count_params()``, the ONNX
initializers); ``other_params`` is what the recurrent layers leave of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rnncalc.core.errors import SpecError
from rnncalc.core.model import LAYER_FIELDS
from rnncalc.core.spec import Cell, Spec, spec_from_mapping
from rnncalc.io.tensor_data import TensorData
from rnncalc.io.tensors import FileContents, Tensor

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
        """The file's tensors and recurrent layers; ``rnncalc inspect``'s document adds the whole
        model's chains (:func:`rnncalc.inspect.chain.document`)."""
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
        }


@dataclass(frozen=True)
class LiveObject:
    """A model in memory, read: its inspection, its tensors by name (views, read when looked up)
    and the name of the tensor format of the file it would be saved as, whose conversion rules
    (tensor order, refusals) it follows."""

    inspection: Inspection
    data: TensorData
    saved_as: str
    #: What the file it would be saved as records (a Keras config), for convert's refusals.
    contents: FileContents


def label(obj: Any) -> str:
    """How a document's ``file`` names a live object: ``<Tagger>``."""
    return f"<{type(obj).__name__}>"


#: Gate blocks stacked along a recurrent weight's gate axis → the cell (PyTorch's and ONNX's
#: ``gates*hidden`` rows, Keras's ``gates*units`` columns).
GATES: dict[int, Cell] = {1: Cell.RNN, 3: Cell.GRU, 4: Cell.LSTM}

#: What a finder returns: recurrent layers, notes, every tensor, and the layer (name and class)
#: holding each tensor where the tensor's own name does not say it (Keras archives).
Found = tuple[list[RecurrentLayer], list[str], tuple[Tensor, ...], dict[str, str]]


def layer_for(
    prefix: str, spec: Spec, tensors: tuple[Tensor, ...], notes: tuple[str, ...] = ()
) -> RecurrentLayer:
    """A :class:`RecurrentLayer` with what each framework makes of the same spec."""
    analysis = _analyze(spec)
    conventions = {
        name: {
            "model": report["model"],
            "supported": report["supported"],
            "total_params": report["total_params"],
            "reason": report["reason"],
        }
        for name, report in analysis["frameworks"].items()
    }
    found = analysis.get("difference")
    difference = found["reason"] if found and found["params"] != 0 else None
    return RecurrentLayer(prefix, spec, tensors, conventions, difference, notes)


def expected_weights(spec: Spec, framework: str) -> list[tuple[str, tuple[int, ...]]]:
    """``(path, shape)`` of every weight the convention registered as ``framework`` holds for
    ``spec``, as analyze reports."""
    report = _analyze(spec)["frameworks"][framework]
    return [
        (weight["path"], tuple(weight["shape"])) for layer in report["layers"] for weight in layer["weights"]
    ]


def spec_or_none(fields: Mapping[str, Any]) -> Spec | None:
    """The spec ``fields`` describe, or None when they are not a valid one."""
    try:
        return spec_from_mapping(fields)
    except SpecError:
        return None


def type_name(obj: Any) -> str:
    """How an error names the type of ``obj``: ``int``, ``torch.Tensor``."""
    cls = type(obj)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _analyze(spec: Spec) -> dict[str, Any]:
    """``rnncalc.analyze(spec)``: every registered convention's report."""
    from rnncalc.core.calc import analyze
    from rnncalc.frameworks import CONVENTIONS

    return analyze(spec, CONVENTIONS).to_dict()


def module_of(tensors: Sequence[Tensor], index: int, used: Mapping[str, int]) -> str:
    """The module holding ``tensors[index]``: its name up to the last dot. A graph's tensor
    named by no module (an exporter's ``onnx::MatMul_7``, ``val_12``) belongs with the next
    floating tensor the graph uses (the ``head.bias`` its ``Add`` takes after the ``MatMul``)."""
    name = tensors[index].name
    if "." in name or name not in used:
        return name.rpartition(".")[0]
    if "float" not in tensors[index].dtype:  # a shape or an index (Reshape's), not a weight
        return name
    following = tensors[index + 1].name if index + 1 < len(tensors) else ""
    return following.rpartition(".")[0] if "." in following and following in used else name
