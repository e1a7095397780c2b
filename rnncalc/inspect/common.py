"""What every convention's finder shares: the result type, the spec check, the other conventions.

A finder (:meth:`rnncalc.core.convention.Convention.find_layers`, which each framework module
implements for the files it reads) takes a file's contents and returns the recurrent layers it
found. Each checks an inferred spec the other way round: :func:`expected_weights` (what
:func:`rnncalc.analyze` says the convention holds for the spec) must be exactly the tensors
found, or the tensors stay "other" with a note saying why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rnncalc.core.errors import SpecError
from rnncalc.core.spec import Cell, Spec, spec_from_mapping
from rnncalc.inspect.model import RecurrentLayer
from rnncalc.io.tensors import Tensor

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
    from rnncalc import analyze

    analysis = analyze(spec)
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
    from rnncalc import analyze

    report = analyze(spec)["frameworks"][framework]
    return [
        (weight["path"], tuple(weight["shape"])) for layer in report["layers"] for weight in layer["weights"]
    ]


def spec_or_none(fields: Mapping[str, Any]) -> Spec | None:
    """The spec ``fields`` describe, or None when they are not a valid one."""
    try:
        return spec_from_mapping(fields)
    except SpecError:
        return None
