"""Move a stack's weights into the target's layout one tensor at a time.

For each of the target's tensors, in its report's order, the target assembles it
(``tensor_from_canonical``) from the canonical parts the source reads (``canonical_part``):
gate blocks that are views of the source's tensors, so each target tensor is made in one
copy (gate reordering, transposes, biases summed or split: the conventions' own converters,
the ones ``verify`` proves). Only that tensor is held; after it is handed on, a
memory-mapped source lets the pages it read go, so converting a large checkpoint holds about
one tensor and the source pages it is read from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from rnncalc.core.errors import ConversionError

if TYPE_CHECKING:
    import numpy as np

    from rnncalc.frameworks.writing import Plan

    Array = np.ndarray[Any, Any]


def converted(plan: Plan, weights: Mapping[str, Any]) -> Iterator[tuple[str, Array]]:
    """The target's ``(name, array)`` pairs in report order, from ``weights`` named as the source
    convention's report names them (read lazily, a layer's parts as they are needed). Raises
    :class:`~rnncalc.core.errors.ConversionError` for a layer whose values the target cannot
    hold, before any of that layer's tensors is yielded."""
    source, target, spec = plan.source.convention, plan.target_convention, plan.spec
    release = getattr(weights, "release", None)
    source_layers = source.report(spec).layers
    for index, layer in enumerate(target.report(spec).layers):
        part = source.canonical_parts(spec, weights, index)
        refusal = target.canonical_refusal(spec, index, part)
        if refusal:
            raise ConversionError(refusal)
        for row in layer.weights:
            array = target.tensor_from_canonical(spec, index, row, part)
            yield row.path, array
            del array  # not held while the next tensor is made
            if release is not None:
                for source_row in source_layers[index].weights:
                    release(source_row.path)
