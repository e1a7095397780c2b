"""Move a stack's weights into the target's layout one layer (or one direction) at a time.

Each piece goes through the conventions' own converters, ``source.to_canonical`` then
``target.from_canonical`` (gate reordering, transposes, biases summed or split), applied to a
one-layer spec of that piece (unidirectional when both conventions keep the directions' tensors
apart); its tensors are renamed by position from the piece's report to the full stack's. Only
one piece's tensors are held at a time, so a large checkpoint streams: at the peak, a piece's
canonical copy and its target copy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from rnncalc.convert.plan import output_features
from rnncalc.core.spec import MergeMode

if TYPE_CHECKING:
    import numpy as np

    from rnncalc.convert.plan import Plan
    from rnncalc.core.report import WeightRow
    from rnncalc.core.spec import Spec

    Array = np.ndarray[Any, Any]


def layer_spec(spec: Spec, index: int) -> Spec:
    """Layer ``index`` of ``spec`` alone: one layer on the features the previous one hands on."""
    features = spec.input_size if index == 0 else output_features(spec)
    return spec.replace(num_layers=1, input_size=features)


def target_rows(plan: Plan) -> list[tuple[str, tuple[int, ...]]]:
    """``(name, shape)`` of every tensor the target holds, in the order :func:`converted` yields."""
    report = plan.target_convention.report(plan.spec)
    return [(row.path, tuple(int(d) for d in row.shape)) for layer in report.layers for row in layer.weights]  # type: ignore[arg-type]


#: The two directions' names in a report's weight rows (an operator holding both, ONNX's, says
#: neither).
DIRECTIONS = ("forward", "backward")


def _pieces(plan: Plan, index: int) -> list[tuple[Spec, list[WeightRow], list[WeightRow]]]:
    """Layer ``index`` cut into the pieces converted one at a time: ``(spec of the piece, its
    source rows, its target rows)`` in the full stack's names. A direction alone where both
    conventions keep each direction's tensors apart, else the whole layer."""
    spec = plan.spec
    layer = layer_spec(spec, index)
    source_rows = list(plan.source.convention.report(spec).layers[index].weights)
    target_rows = list(plan.target_convention.report(spec).layers[index].weights)
    apart = all(row.direction in DIRECTIONS for row in (*source_rows, *target_rows))
    if not (spec.bidirectional and apart):
        return [(layer, source_rows, target_rows)]
    one_way = layer.replace(bidirectional=False, merge_mode=MergeMode.CONCAT)
    return [
        (
            one_way,
            [row for row in source_rows if row.direction == direction],
            [row for row in target_rows if row.direction == direction],
        )
        for direction in DIRECTIONS
    ]


def converted(plan: Plan, weights: Mapping[str, Any]) -> Iterator[tuple[str, Array]]:
    """The target's ``(name, array)`` pairs in report order, from ``weights`` named as the source
    convention's report names them (read lazily, one layer or direction at a time)."""
    source, target = plan.source.convention, plan.target_convention
    release = getattr(weights, "release", None)
    pieces = [piece for index in range(plan.spec.num_layers) for piece in _pieces(plan, index)]
    for spec, source_rows, target_rows in pieces:
        alone_source = source.report(spec).layers[0].weights
        piece_weights = {
            alone.path: weights[full.path] for alone, full in zip(alone_source, source_rows, strict=True)
        }
        canonical = source.to_canonical(spec, piece_weights)
        del piece_weights
        # The canonical copy is made: a memory-mapped source's pages can go before the
        # target's copy is made, so at most two copies of the piece are resident.
        if release is not None:
            for row in source_rows:
                release(row.path)
        arrays = target.from_canonical(spec, canonical)
        del canonical
        for alone, full in zip(target.report(spec).layers[0].weights, target_rows, strict=True):
            yield full.path, arrays.pop(alone.path)
