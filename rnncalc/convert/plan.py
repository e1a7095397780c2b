"""What a conversion will do, decided before anything is written.

A source file is read as ``rnncalc inspect`` reads it: its recurrent layers are recognised from
tensor names and shapes, and must be the whole file (a model with an embedding or a dense head
is refused, naming those tensors). Consecutive layers that chain (same cell, sizes, flags; each
one's input the previous one's output) become one stack, a :class:`~rnncalc.core.spec.Spec`
with ``num_layers``. The target follows from the destination's extension or ``--to``, among
the formats the registered conventions write
(:meth:`~rnncalc.core.convention.Convention.tensor_formats`); a spec the target convention
cannot express is refused with its reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnncalc.core.errors import ConversionError, SpecError
from rnncalc.core.spec import Cell, MergeMode, Nonlinearity, Spec, describe_spec

if TYPE_CHECKING:
    from rnncalc.core.convention import Convention
    from rnncalc.inspect.model import Inspection, RecurrentLayer
    from rnncalc.io.tensor_data import TensorFormat


@dataclass(frozen=True)
class Source:
    """A weight file read as one recurrent stack.

    ``names`` are the file's tensor names in the order of the convention's report rows for
    ``spec`` (every layer's, in order), so row ``i`` holds ``names[i]``.
    """

    path: str
    format: TensorFormat
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
    target: TensorFormat
    target_convention: Convention

    @property
    def spec(self) -> Spec:
        return self.source.spec


def tensor_formats() -> tuple[tuple[Convention, TensorFormat], ...]:
    """Every format some registered convention's tensors are converted from or to, with that
    convention, in registry order."""
    from rnncalc.frameworks import CONVENTIONS

    return tuple((convention, found) for convention in CONVENTIONS for found in convention.tensor_formats())


def targets() -> dict[str, tuple[Convention, TensorFormat]]:
    """``--to`` values → the convention and format written."""
    return {found.target: (convention, found) for convention, found in tensor_formats() if found.target}


def target_for(destination: str, to: str | None) -> tuple[Convention, TensorFormat]:
    """The target ``--to`` names, else the one the destination's extension implies."""
    writable = targets()
    if to is not None:
        return writable[to]
    suffix = Path(destination).suffix.lower()
    found = next((target for target in writable.values() if suffix in target[1].suffixes), None)
    if found is None:
        known = ", ".join(suffix for _, target in writable.values() for suffix in target.suffixes)
        raise SpecError("-o", f"{destination}: cannot tell the target from {suffix or 'no extension'!r}; "
                        f"use one of {known} or --to")  # fmt: skip
    return found


def source_format(path: str) -> tuple[Convention | None, str, TensorFormat | None]:
    """How ``path`` is read: the convention owning a format only convert reads (by suffix; None
    for the formats inspect reads, whose convention inspect finds), the format's name, and its
    tensor format (None: the file holds no tensor values, as a model config)."""
    from rnncalc.inspect.formats import choose_format, weight_formats

    inspected = {found.name for found in weight_formats()}
    suffix = Path(path).suffix.lower()
    if Path(path).is_file():
        for convention, found in tensor_formats():
            if found.name not in inspected and suffix in found.suffixes:
                return convention, found.name, found
    name = choose_format(path).name
    return None, name, next((found for _, found in tensor_formats() if found.name == name), None)


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
    target_convention, target = target_for(destination, to)
    stack = read_source(source)
    if nonlinearity is not None:
        if stack.spec.cell is not Cell.RNN:
            raise SpecError("--nonlinearity", f"applies to rnn only, not {stack.spec.cell.value}")
        notes = tuple(note for note in stack.notes if "nonlinearity" not in note)
        stack = replace(stack, spec=stack.spec.replace(nonlinearity=nonlinearity), notes=notes)
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
    from rnncalc.io.tensors import WeightFileError

    owner, name, found = source_format(path)
    if owner is not None and found is not None:
        return _matched_source(path, owner, found)
    inspection, names = recognise(path, found)
    if found is None:
        raise WeightFileError(path, f"holds no tensor data to convert (a {name} file)")
    convention = frameworks.get(inspection.convention)
    spec = stack_spec(path, inspection.recurrent)
    check_rows(path, convention, spec, inspection, names)
    notes = tuple(dict.fromkeys(note for layer in inspection.recurrent for note in layer.notes))
    return Source(path, found, convention, spec, names, notes)


def _matched_source(path: str, convention: Convention, found: TensorFormat) -> Source:
    """A file inspect does not read (a Flax NNX msgpack state): its spec is matched against the
    convention's report by names and shapes (:mod:`rnncalc.convert.match`)."""
    from rnncalc.convert.match import match_stack

    data = found.open(path)
    try:
        shapes = {name: tuple(int(d) for d in data[name].shape) for name in data}
    except ConversionError as error:  # a tensor convert does not move (complex, integer...)
        raise ConversionError(f"{path}: {error}") from None
    matched = match_stack(convention, shapes)
    if matched is None:
        raise ConversionError(
            f"{path}: the tensors are not one {convention.title} recurrent stack as rnncalc builds it"
        )
    spec, notes = matched
    names = tuple(row.path for layer in convention.report(spec).layers for row in layer.weights)
    return Source(path, found, convention, spec, names, notes)


def recognise(source: str, found: TensorFormat | None) -> tuple[Inspection, tuple[str, ...]]:
    """The inspection of ``source`` and its recurrent tensors' names in report-row order (sorted
    by ``found.order`` when the file's order differs); refuses a file with other weights, or
    with recurrent weights rnncalc cannot move (``found.refuse``, the layers' notes)."""
    from rnncalc.inspect.formats import read_file
    from rnncalc.inspect.infer import inspect_contents
    from rnncalc.io.tensor_data import dtype_refusal

    inspection = inspect_contents(source, read_file(source))
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
        for tensor in layer.tensors:
            refusal = dtype_refusal(tensor.dtype)
            if refusal:
                raise ConversionError(f"{source}: tensor {tensor.name!r} {refusal}")
        tensors = list(layer.tensors)
        if found is not None and found.order is not None:
            order = found.order
            tensors.sort(key=lambda tensor: order(tensor.name))
        refused = found.refuse(layer) if found is not None and found.refuse is not None else None
        if refused:
            raise ConversionError(f"{source}: {refused}")
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


#: The fields that decide a stack's weights and what it computes with them (not how it is
#: called: batch, sequences, states); a target that cannot hold one of them refuses.
STACK_FIELDS = (
    "cell",
    "hidden_size",
    "bidirectional",
    "bias",
    "nonlinearity",
    "proj_size",
    "reset_after",
    "merge_mode",
    "activation",
    "recurrent_activation",
    "go_backwards",
)


def weights_spec(spec: Spec, **changes: Any) -> Spec:
    """``spec`` with only the :data:`STACK_FIELDS` (the rest at their defaults)."""
    fields = {name: getattr(spec, name) for name in (*STACK_FIELDS, "input_size", "num_layers")}
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
