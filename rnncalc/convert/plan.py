"""What a conversion will do, decided before anything is written.

A source file is read as ``rnncalc inspect`` reads it: its recurrent layers are recognised from
tensor names and shapes, and must be the whole file (a model with an embedding or a dense head
is refused, naming those tensors). Consecutive layers that chain (same cell, sizes, flags; each
one's input the previous one's output) become one stack, a :class:`~rnncalc.core.spec.Spec`
with ``num_layers``. The target follows from the destination's extension or ``--to``; a spec
the target convention cannot express is refused with its reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from rnncalc.core.errors import ConversionError, SpecError
from rnncalc.core.spec import Cell, MergeMode, Nonlinearity, Spec, describe_spec

if TYPE_CHECKING:
    from rnncalc.core.convention import Convention
    from rnncalc.inspect.model import Inspection, RecurrentLayer


class Target(NamedTuple):
    """A destination format: the convention whose names it holds and how it is written."""

    convention: str
    format: str
    description: str


#: ``--to`` values → targets.
TARGETS: dict[str, Target] = {
    "torch": Target("torch", "pt", "PyTorch state dict (torch.save)"),
    "safetensors": Target("torch", "safetensors", "PyTorch state dict (safetensors)"),
    "keras": Target("keras", "keras", "Keras 3 model (.keras)"),
    "onnx": Target("onnx", "onnx", "ONNX model"),
    "flax": Target("flax", "msgpack", "Flax NNX state (flax.serialization msgpack)"),
}
#: Destination extension → ``--to`` value.
EXTENSION_TARGETS: dict[str, str] = {
    ".pt": "torch",
    ".pth": "torch",
    ".bin": "torch",
    ".safetensors": "safetensors",
    ".keras": "keras",
    ".onnx": "onnx",
    ".msgpack": "flax",
}


@dataclass(frozen=True)
class Source:
    """A weight file read as one recurrent stack.

    ``names`` are the file's tensor names in the order of the convention's report rows for
    ``spec`` (every layer's, in order), so row ``i`` holds ``names[i]``.
    """

    path: str
    kind: str
    convention: Convention
    spec: Spec
    names: tuple[str, ...]
    #: What the file leaves open and was assumed (inspect's notes on the layers).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """One conversion: the source stack, the target format and convention, the destination."""

    source: Source
    destination: str
    target: Target
    target_convention: Convention

    @property
    def spec(self) -> Spec:
        return self.source.spec


def target_for(destination: str, to: str | None) -> Target:
    """The target ``--to`` names, else the one the destination's extension implies."""
    if to is not None:
        return TARGETS[to]
    suffix = Path(destination).suffix.lower()
    if suffix not in EXTENSION_TARGETS:
        known = ", ".join(EXTENSION_TARGETS)
        raise SpecError("-o", f"{destination}: cannot tell the target from {suffix or 'no extension'!r}; "
                        f"use one of {known} or --to")  # fmt: skip
    return TARGETS[EXTENSION_TARGETS[suffix]]


def source_kind(path: str) -> str:
    """The reader :mod:`rnncalc.inspect.formats` uses for ``path``."""
    from rnncalc.inspect.formats import EXTENSIONS, _sniff
    from rnncalc.io.tensors import WeightFileError

    if not Path(path).is_file():
        raise WeightFileError(path, "no such file" if not Path(path).exists() else "not a regular file")
    suffix = Path(path).suffix.lower()
    if suffix == ".msgpack":
        return "flax"
    return EXTENSIONS.get(suffix) or _sniff(path)


def make_plan(
    source: str,
    destination: str,
    to: str | None = None,
    *,
    force: bool = False,
    nonlinearity: Nonlinearity | None = None,
) -> Plan:
    """Read ``source``, recognise its stack and check that the target can hold it; raises
    :class:`ConversionError` (or a reader's error) naming what cannot be converted.
    ``nonlinearity`` sets an RNN's activation where the file does not record it (a state dict)."""
    from rnncalc import frameworks

    target = target_for(destination, to)
    stack = read_source(source)
    if nonlinearity is not None:
        if stack.spec.cell is not Cell.RNN:
            raise SpecError("--nonlinearity", f"applies to rnn only, not {stack.spec.cell.value}")
        notes = tuple(note for note in stack.notes if "nonlinearity" not in note)
        stack = replace(stack, spec=stack.spec.replace(nonlinearity=nonlinearity), notes=notes)
    target_convention = frameworks.get(target.convention)
    reason = target_convention.unsupported(stack.spec)
    if reason:
        raise ConversionError(
            f"{source}: {target_convention.title} cannot hold this {describe_spec(stack.spec)}: {reason}"
        )
    check_destination(source, destination, force)
    return Plan(stack, destination, target, target_convention)


def read_source(path: str) -> Source:
    """``path`` read as one recurrent stack in its convention."""
    from rnncalc import frameworks

    kind = source_kind(path)
    if kind == "flax":
        return _flax_source(path)
    inspection, names = recognise(path, kind)
    convention = frameworks.get(inspection.convention)
    spec = stack_spec(path, inspection.recurrent)
    check_rows(path, convention, spec, inspection, names)
    notes = tuple(dict.fromkeys(note for layer in inspection.recurrent for note in layer.notes))
    return Source(path, kind, convention, spec, names, notes)


def _flax_source(path: str) -> Source:
    """A Flax NNX state (msgpack): no inspect reader, so its spec is matched against the Flax
    convention's report by names and shapes (:mod:`rnncalc.convert.match`)."""
    from rnncalc import frameworks
    from rnncalc.convert.match import match_stack
    from rnncalc.io.tensor_data import open_flax_msgpack

    convention = frameworks.get("flax")
    data = open_flax_msgpack(path)
    shapes = {name: tuple(int(d) for d in data[name].shape) for name in data}
    found = match_stack(convention, shapes)
    if found is None:
        raise ConversionError(
            f"{path}: the tensors are not one Flax NNX recurrent stack as rnncalc builds it"
        )
    spec, notes = found
    names = tuple(row.path for layer in convention.report(spec).layers for row in layer.weights)
    return Source(path, "flax", convention, spec, names, notes)


def recognise(source: str, kind: str) -> tuple[Inspection, tuple[str, ...]]:
    """The inspection of ``source`` and its recurrent tensors' names in report-row order;
    refuses a file with other weights, or with recurrent weights rnncalc cannot move."""
    from rnncalc.inspect.formats import READERS
    from rnncalc.inspect.infer import inspect_contents
    from rnncalc.io.tensor_data import keras_variable_order

    inspection = inspect_contents(source, READERS[kind](source))
    if inspection.from_config:
        raise ConversionError(f"{source}: a model config holds no weights to convert")
    if not inspection.recurrent:
        notes = "; ".join(inspection.notes)
        raise ConversionError(f"{source}: no recurrent layer found" + (f" ({notes})" if notes else ""))
    owned = inspection.owner()
    others = list(
        dict.fromkeys(
            inspection.layer_of.get(t.name, t.name)
            for t in inspection.tensors
            if t.name not in owned and t.numel
        )
    )
    if others:
        listed = ", ".join(others[:4]) + (f" and {len(others) - 4} more" if len(others) > 4 else "")
        raise ConversionError(
            f"{source}: convert moves a bare recurrent stack; these tensors are not part of one "
            f"and cannot be converted: {listed}"
        )
    names: list[str] = []
    for layer in inspection.recurrent:
        tensors = list(layer.tensors)
        if inspection.convention == "keras":
            tensors.sort(key=lambda tensor: keras_variable_order(tensor.name))
        if inspection.convention == "onnx" and len(tensors) > (3 if layer.spec.bias else 2):
            raise ConversionError(
                f"{source}: {layer.prefix} has peephole weights P, which no other framework holds"
            )
        if any("changes the computation" in note for note in layer.notes) or any(
            "direction=reverse" in note for note in layer.notes
        ):
            raise ConversionError(f"{source}: {layer.prefix}: {'; '.join(layer.notes)}; not convertible")
        names.extend(tensor.name for tensor in tensors)
    return inspection, tuple(names)


def output_features(spec: Spec) -> int:
    """Features one layer of ``spec`` hands to the next: the directions concatenated or merged."""
    size = spec.proj_size or spec.hidden_size
    concatenated = spec.bidirectional and spec.merge_mode is MergeMode.CONCAT
    return spec.num_directions * size if concatenated else size


#: The fields that decide a stack's weights (not how it is called: batch, sequences, states).
WEIGHT_FIELDS = (
    "cell",
    "hidden_size",
    "bidirectional",
    "bias",
    "nonlinearity",
    "proj_size",
    "reset_after",
    "merge_mode",
)


def weights_spec(spec: Spec, **changes: Any) -> Spec:
    """``spec`` with only the fields that decide its weights (the rest at their defaults)."""
    fields = {name: getattr(spec, name) for name in (*WEIGHT_FIELDS, "input_size", "num_layers")}
    return Spec(**{**fields, **changes})


def stack_spec(source: str, layers: tuple[RecurrentLayer, ...]) -> Spec:
    """One spec for the recognised layers: each must continue the previous one's stack."""
    spec = weights_spec(layers[0].spec)
    for layer in layers[1:]:
        same = weights_spec(layer.spec, input_size=spec.input_size, num_layers=spec.num_layers) == spec
        if layer.spec.input_size != output_features(spec) or not same:
            raise ConversionError(
                f"{source}: {layers[0].prefix or 'the first layer'} and {layer.prefix} are not one "
                f"stack ({describe_spec(spec)} then {describe_spec(layer.spec)}); convert moves one "
                "stack of identical layers"
            )
        spec = weights_spec(spec, num_layers=spec.num_layers + layer.spec.num_layers)
    return spec


def check_rows(
    source: str, convention: Convention, spec: Spec, inspection: Inspection, names: tuple[str, ...]
) -> None:
    """The report's rows for ``spec`` must have the file's shapes, one for one."""
    shapes = {tensor.name: tensor.shape for tensor in inspection.tensors}
    rows = [row for layer in convention.report(spec).layers for row in layer.weights]
    if len(rows) != len(names) or any(
        shapes[name] != row.shape for name, row in zip(names, rows, strict=False)
    ):
        raise ConversionError(
            f"{source}: the tensors do not form {describe_spec(spec)} as {convention.title} lays it out"
        )


def check_destination(source: str, destination: str, force: bool) -> None:
    if os.path.abspath(source) == os.path.abspath(destination):
        raise SpecError("-o", f"{destination} is the source file; write elsewhere")
    parent = Path(destination).parent
    if not parent.is_dir():
        raise SpecError("-o", f"{destination}: directory {str(parent)!r} does not exist")
    if os.path.exists(destination) and not force:
        raise SpecError("-o", f"{destination} exists; pass --force to replace it")


def source_weights(source: Source, data: Mapping[str, Any]) -> Renamed:
    """The convention's report path → the file's tensor (read when looked up)."""
    rows = [row for layer in source.convention.report(source.spec).layers for row in layer.weights]
    return Renamed({row.path: name for row, name in zip(rows, source.names, strict=True)}, data)


class Renamed(Mapping[str, Any]):
    """A lazy view of ``data`` under other names: ``view[new]`` reads ``data[old]``."""

    def __init__(self, names: dict[str, str], data: Mapping[str, Any]) -> None:
        self._names = names
        self._data = data

    def __getitem__(self, name: str) -> Any:
        return self._data[self._names[name]]

    def release(self, name: str) -> None:
        """Done with ``name``: a memory-mapped source lets its pages go."""
        release = getattr(self._data, "release", None)
        if release is not None:
            release(self._names[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)
