"""Recognise a stack from tensor names and shapes alone, by asking a convention's report.

For a file that ``rnncalc inspect`` has no reader for (a Flax NNX state), the spec is found by
trying each cell, direction count, hidden and input size among the file's dimensions, and
keeping the spec whose report names exactly the file's tensors with exactly their shapes. What
the tensors do not record (an RNN's nonlinearity, how two directions are merged) is assumed and
said in a note.
"""

from __future__ import annotations

from collections.abc import Mapping

from rnncalc.core.convention import Convention
from rnncalc.core.errors import SpecError
from rnncalc.core.spec import Cell, MergeMode, Spec

#: Largest number of layers tried: far beyond any real stack, and it bounds the search.
MAX_LAYERS = 256


def match_stack(
    convention: Convention, shapes: Mapping[str, tuple[int, ...]]
) -> tuple[Spec, tuple[str, ...]] | None:
    """The spec whose ``convention.report`` has exactly ``shapes`` (name → shape), and notes on
    what was assumed; None when no spec does."""
    dims = sorted({d for shape in shapes.values() for d in shape})
    for cell in Cell:
        for bidirectional in (False, True):
            for merge_mode in (MergeMode.CONCAT, MergeMode.SUM) if bidirectional else (MergeMode.CONCAT,):
                for hidden in dims:
                    for input_size in dims:
                        spec = _fitting(
                            convention, shapes, cell, bidirectional, merge_mode, hidden, input_size
                        )
                        if spec is not None:
                            return spec, _assumed(spec)
    return None


def _fitting(
    convention: Convention,
    shapes: Mapping[str, tuple[int, ...]],
    cell: Cell,
    bidirectional: bool,
    merge_mode: MergeMode,
    hidden: int,
    input_size: int,
) -> Spec | None:
    """The spec with these fields and the number of layers the tensor count implies, if its
    report matches ``shapes``."""
    try:
        one = Spec(
            cell=cell,
            hidden_size=hidden,
            input_size=input_size,
            bidirectional=bidirectional,
            merge_mode=merge_mode,
        )
    except SpecError:
        return None
    report = convention.report(one)
    if not report.supported:
        return None
    per_layer = sum(len(layer.weights) for layer in report.layers)
    layers, extra = divmod(len(shapes), per_layer)
    if extra or not 1 <= layers <= MAX_LAYERS:
        return None
    spec = one.replace(num_layers=layers) if layers > 1 else one
    if spec.merge_mode is not MergeMode.CONCAT and layers == 1:
        return None  # one layer: the merge is not in the weights; concat is assumed below
    found = {row.path: tuple(row.shape) for layer in convention.report(spec).layers for row in layer.weights}
    return spec if found == dict(shapes) else None


def _assumed(spec: Spec) -> tuple[str, ...]:
    notes = []
    if spec.cell is Cell.RNN:
        notes.append("nonlinearity (tanh or relu) is not recorded in the weights; tanh assumed")
    if spec.bidirectional and (spec.num_layers == 1 or spec.merge_mode is not MergeMode.CONCAT):
        merge = "concat" if spec.num_layers == 1 else "sum (or mul, ave: the weights are the same)"
        notes.append(f"how the two directions merge is not recorded in the weights; {merge} assumed")
    return tuple(notes)
