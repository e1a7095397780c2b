"""What a conversion will do, decided before anything is written.

A source file is read as ``rnncalc inspect`` reads it: its recurrent layers are recognised from
tensor names and shapes, and must be the whole file (a model with an embedding or a dense head
is refused, naming those tensors). Consecutive layers that chain (same cell, sizes, flags; each
one's input the previous one's output) become one stack, a :class:`~rnncalc.core.spec.Spec`
with ``num_layers``. The target follows from the destination's extension or ``--to``, among
the formats the registered conventions write
(:meth:`~rnncalc.frameworks.contract.FrameworkConvention.tensor_formats`); a spec the target convention
cannot express is refused with its reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnncalc.core.errors import ConversionError, SpecError
from rnncalc.core.spec import Cell, MergeMode, Nonlinearity, Spec, describe_spec
from rnncalc.frameworks.writing import Plan, Source

if TYPE_CHECKING:
    from rnncalc.core.model import Model
    from rnncalc.core.report import WeightRow
    from rnncalc.frameworks.contract import FrameworkConvention
    from rnncalc.frameworks.inspection import Inspection, RecurrentLayer
    from rnncalc.io.tensor_data import TensorFormat
    from rnncalc.io.tensors import FileContents


def tensor_formats() -> tuple[tuple[FrameworkConvention, TensorFormat], ...]:
    """Every format some registered convention's tensors are converted from or to, with that
    convention, in registry order."""
    from rnncalc.frameworks import CONVENTIONS

    return tuple((convention, found) for convention in CONVENTIONS for found in convention.tensor_formats())


def targets() -> dict[str, tuple[FrameworkConvention, TensorFormat]]:
    """``--to`` values → the convention and format written."""
    return {found.target: (convention, found) for convention, found in tensor_formats() if found.target}


def target_for(destination: str, to: str | None) -> tuple[FrameworkConvention, TensorFormat]:
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


def tensor_format(name: str) -> TensorFormat | None:
    """The tensor format of the weight format ``name`` inspect read a file as (None: the file
    holds no tensor values, as a model config)."""
    return next((found for _, found in tensor_formats() if found.name == name), None)


def make_plan(
    source: str | Source,
    destination: str,
    to: str | None = None,
    *,
    force: bool = False,
    nonlinearity: Nonlinearity | None = None,
    part: Sequence[str] = (),
    model: Model | None = None,
) -> Plan:
    """Read ``source`` (or take the stack already read from it: a live object's), recognise
    its stack or whole model and check that the target can hold it; raises
    :class:`ConversionError` (or a reader's error) naming what cannot be converted.
    ``nonlinearity`` sets an RNN's activation where the file does not record it (a state dict);
    ``part`` names the parts to convert (``--part``), ``model`` states the architecture
    (``--model``)."""
    target_convention, target = target_for(destination, to)
    stack = read_source(source, part, model) if isinstance(source, str) else source
    if nonlinearity is not None:
        stack = _with_nonlinearity(stack, nonlinearity)
    if stack.model is not None:
        reason = target_convention.model_report(stack.model).reason
        if reason:
            raise ConversionError(f"{stack.path}: {target_convention.title} cannot hold this model: {reason}")
    else:
        reason = target_convention.unsupported(stack.spec)
        if reason:
            raise ConversionError(
                f"{stack.path}: {target_convention.title} cannot hold this "
                f"{describe_spec(stack.spec)}: {reason}"
            )
    check_destination(stack.path, destination, force)
    return Plan(stack, destination, target, target_convention, force)


def _with_nonlinearity(stack: Source, nonlinearity: Nonlinearity) -> Source:
    """``stack`` with every RNN block's activation set (``--nonlinearity``)."""
    from rnncalc.core.model import Model

    blocks = stack.model.layers if stack.model is not None else (stack.spec,)
    if not any(block.cell is Cell.RNN for block in blocks):
        raise SpecError("--nonlinearity", f"applies to rnn only, not {stack.spec.cell.value}")
    notes = tuple(note for note in stack.notes if "nonlinearity" not in note)
    assumptions = tuple(a for a in stack.assumptions if a not in {n.value for n in Nonlinearity})
    if stack.model is None:
        spec = stack.spec.replace(nonlinearity=nonlinearity)
        return replace(stack, spec=spec, notes=notes, assumptions=assumptions)
    model = stack.model
    parts = tuple(
        p.replace(nonlinearity=nonlinearity) if isinstance(p, Spec) and p.cell is Cell.RNN else p
        for p in model.parts
    )
    changed = Model(parts=parts, batch_first=model.batch_first, return_sequences=model.return_sequences)
    return replace(stack, model=changed, spec=changed.layers[0], notes=notes, assumptions=assumptions)


def read_source(path: str, part: Sequence[str] = (), model: Model | None = None) -> Source:
    """``path`` read as one recurrent stack or a whole model in its convention (or the model in
    memory a notebook lends under that name: :func:`rnncalc.inspect.live.lent`); ``part`` and
    ``model`` as :func:`make_plan` takes them."""
    from rnncalc.inspect.formats import read_file
    from rnncalc.inspect.infer import inspect_contents
    from rnncalc.inspect.live import lent

    obj = lent(path)
    if obj is not None:
        return object_source(obj, part, model)
    contents = read_file(path)  # its format chosen once, as inspect chooses it
    found = tensor_format(contents.format)
    return inspected_source(inspect_contents(path, contents), contents, found, part, model)


def object_source(obj: Any, part: Sequence[str] = (), model: Model | None = None) -> Source:
    """A model in memory read as one recurrent stack or a whole model, its tensors served in place."""
    from rnncalc.inspect.live import live_format, read_object

    live = read_object(obj)
    return inspected_source(live.inspection, live.contents, live_format(live), part, model)


def inspected_source(
    inspection: Inspection,
    contents: FileContents,
    found: TensorFormat | None,
    part: Sequence[str] = (),
    model: Model | None = None,
) -> Source:
    """The stack or whole model of an inspected file (or live object), its tensors read
    through ``found`` (None: the file holds no tensor values). A file holding one stack and
    nothing else is that stack; any other is a whole model (:mod:`rnncalc.convert.whole`)."""
    from rnncalc import frameworks
    from rnncalc.convert.whole import whole_model
    from rnncalc.io.tensor_data import dtype_refusal
    from rnncalc.io.tensors import WeightFileError

    path = inspection.file
    refuse_file(inspection, contents, found)
    if found is None:
        raise WeightFileError(path, f"holds no tensor data to convert (a {inspection.format} file)")
    convention = frameworks.get(inspection.convention)
    stack = None if part or model is not None else bare_stack(inspection, found)
    if stack is not None:
        names, spec = stack
        check_rows(path, convention.report(spec).weights, inspection, names, describe_spec(spec), convention)
        notes = tuple(dict.fromkeys(note for layer in inspection.recurrent for note in layer.notes))
        return Source(path, found, convention, spec, names, notes)
    whole = whole_model(inspection, convention, found, part, model)
    if whole.model.is_flat:  # one recurrent block (--part encoder): the stack nn.LSTM loads
        spec = weights_spec(whole.model.layers[0])
        check_rows(
            path, convention.report(spec).weights, inspection, whole.names, describe_spec(spec), convention
        )
        names, notes, assumptions = whole.names, whole.notes, whole.assumptions
        return Source(path, found, convention, spec, names, notes, assumptions=assumptions, part=tuple(part))
    dtypes = {tensor.name: tensor.dtype for tensor in inspection.tensors}
    for name in whole.names:
        refusal = dtype_refusal(dtypes[name])
        if refusal:
            raise ConversionError(f"{path}: tensor {name!r} {refusal}")
    rows = convention.model_report(whole.model).weights
    check_rows(path, rows, inspection, whole.names, "this model", convention, whole.transposed)
    return Source(
        path,
        found,
        convention,
        whole.model.layers[0],
        whole.names,
        whole.notes,
        whole.model,
        whole.assumptions,
        frozenset(whole.transposed),
        tuple(part),
    )


def refuse_file(inspection: Inspection, contents: FileContents, found: TensorFormat | None) -> None:
    """Refuse a file convert cannot read weights from: a model config, a model with layers
    convert would drop (``found.refuse_file`` of its ``contents``), no recurrent layer."""
    source = inspection.file
    if inspection.from_config:
        raise ConversionError(f"{source}: a model config holds no weights to convert")
    refused = found.refuse_file(contents) if found is not None and found.refuse_file is not None else None
    if refused:
        raise ConversionError(f"{source}: {refused}")
    if not inspection.recurrent:
        notes = "; ".join(inspection.notes)
        raise ConversionError(f"{source}: no recurrent layer found" + (f" ({notes})" if notes else ""))


def bare_stack(inspection: Inspection, found: TensorFormat) -> tuple[tuple[str, ...], Spec] | None:
    """The file's recurrent tensors' names in report-row order and the one stack they form,
    when the file holds that and nothing else (None: a whole model)."""
    owned = inspection.owner()
    if any(t.name not in owned and t.numel for t in inspection.tensors):
        return None
    try:
        spec = stack_spec(inspection.file, inspection.recurrent)
    except ConversionError:  # layers that differ: a whole model of recurrent blocks
        return None
    names = [name for layer in inspection.recurrent for name in layer_names(inspection.file, layer, found)]
    return tuple(names), spec


def layer_names(source: str, layer: RecurrentLayer, found: TensorFormat) -> list[str]:
    """A recurrent layer's tensor names in its report rows' order (sorted by ``found.order``
    when the file's order differs); refuses weights rnncalc cannot move (a dtype, ``found.refuse``,
    a note that changes the computation)."""
    from rnncalc.io.tensor_data import dtype_refusal

    for tensor in layer.tensors:
        refusal = dtype_refusal(tensor.dtype)
        if refusal:
            raise ConversionError(f"{source}: tensor {tensor.name!r} {refusal}")
    tensors = list(layer.tensors)
    if found.order is not None:
        order = found.order
        tensors.sort(key=lambda tensor: order(tensor.name))
    refused = found.refuse(layer) if found.refuse is not None else None
    if refused:
        raise ConversionError(f"{source}: {refused}")
    if any("changes the computation" in note or "direction=reverse" in note for note in layer.notes):
        raise ConversionError(f"{source}: {layer.prefix}: {'; '.join(layer.notes)}; not convertible")
    return [tensor.name for tensor in tensors]


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
    source: str,
    rows: Sequence[WeightRow],
    inspection: Inspection,
    names: Sequence[str],
    described: str,
    convention: FrameworkConvention,
    transposed: Sequence[str] = (),
) -> None:
    """The report's ``rows`` must have the file's shapes (of the ``transposed`` ones, their
    transpose), one for one."""
    shapes = {tensor.name: tensor.shape for tensor in inspection.tensors}
    shapes.update({name: shapes[name][::-1] for name in transposed if name in shapes})
    if len(rows) != len(names) or any(
        shapes[name] != row.shape for name, row in zip(names, rows, strict=False)
    ):
        raise ConversionError(
            f"{source}: the tensors do not form {described} as {convention.title} lays it out"
        )


def check_destination(source: str, destination: str, force: bool) -> None:
    if os.path.abspath(source) == os.path.abspath(destination) or _same_file(source, destination):
        raise SpecError("-o", f"{destination} is the source file; write elsewhere")
    parent = Path(destination).parent
    if not parent.is_dir():
        raise SpecError("-o", f"{destination}: directory {str(parent)!r} does not exist")
    if os.path.exists(destination) and not force:
        raise SpecError("-o", f"{destination} exists; pass --force to replace it")


def _same_file(one: str, other: str) -> bool:
    """True when both paths reach the same file (device and inode), whatever the path: a
    symbolic or hard link, ``/proc/self/fd/N``, another case on a case-folding filesystem."""
    try:
        return os.path.samefile(one, other)
    except (OSError, ValueError):  # one of them does not exist (or cannot be asked)
        return False


def source_weights(source: Source, data: Mapping[str, Any]) -> Renamed:
    """The convention's report path → the file's tensor (read when looked up)."""
    from rnncalc.io.tensors import WeightFileError

    known = set(data)  # the names, not ``in``: a Mapping's ``in`` reads the tensor
    missing = next((name for name in source.names if name not in known), None)
    if missing is not None:  # listed when the file was read, not found when it is opened
        raise WeightFileError(source.path, f"tensor {missing!r} cannot be read from the file")
    rows = source.rows(source.convention)
    names = {row.path: name for row, name in zip(rows, source.names, strict=True)}
    return Renamed(names, data, source.transposed)


class Renamed(Mapping[str, Any]):
    """A lazy view of ``data`` under other names: ``view[new]`` reads ``data[old]`` (its
    transpose, a view, where ``old`` is one of ``transposed``)."""

    def __init__(
        self, names: dict[str, str], data: Mapping[str, Any], transposed: frozenset[str] = frozenset()
    ) -> None:
        self._names = names
        self._data = data
        self._transposed = transposed

    def __getitem__(self, name: str) -> Any:
        old = self._names[name]
        value = self._data[old]
        return value.T if old in self._transposed else value

    def release(self, name: str) -> None:
        """Done with ``name``: a memory-mapped source lets its pages go."""
        release = getattr(self._data, "release", None)
        if release is not None:
            release(self._names[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)
