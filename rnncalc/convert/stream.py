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

    from rnncalc.core.spec import Spec
    from rnncalc.frameworks.contract import FrameworkConvention
    from rnncalc.frameworks.writing import Plan

    Array = np.ndarray[Any, Any]


def converted(plan: Plan, weights: Mapping[str, Any]) -> Iterator[tuple[str, Array]]:
    """The target's ``(name, array)`` pairs in report order, from ``weights`` named as the source
    convention's report names them (read lazily, a layer's parts as they are needed). Raises
    :class:`~rnncalc.core.errors.ConversionError` for a layer whose values the target cannot
    hold, before any of that layer's tensors is yielded."""
    if plan.source.model is not None:
        yield from _converted_model(plan, weights)
        return
    yield from _stack_pairs(plan.source.convention, plan.target_convention, plan.spec, weights)


def _stack_pairs(
    source: FrameworkConvention,
    target: FrameworkConvention,
    spec: Spec,
    weights: Mapping[str, Any],
    label: str = "",
) -> Iterator[tuple[str, Array]]:
    """A stack's target tensors, named as the target's :meth:`report` names them, layer by
    layer, from ``weights`` named as the source's report names them; after each tensor the
    layer's source pages are let go (``weights.release``, where the mapping has it). A layer
    whose values the target cannot hold is refused (its reason after ``label``) before any of
    its tensors is made."""
    release = getattr(weights, "release", None)
    source_layers = source.report(spec).layers
    for index, layer in enumerate(target.report(spec).layers):
        part = source.canonical_parts(spec, weights, index)
        refusal = target.canonical_refusal(spec, index, part)
        if refusal:
            raise ConversionError(label + refusal)
        for row in layer.weights:
            array = target.tensor_from_canonical(spec, index, row, part)
            yield row.path, array
            del array  # not held while the next tensor is made
            if release is not None:
                for source_row in source_layers[index].weights:
                    release(source_row.path)


def _converted_model(plan: Plan, weights: Mapping[str, Any]) -> Iterator[tuple[str, Array]]:
    """:func:`converted` for a whole model, part by part in chain order: a recurrent block as a
    stack is converted (its rows renamed from the model's names to the block's own), any other
    part through its canonical tensors (the conventions' ``part_canonical`` and
    ``part_tensor_from_canonical``)."""
    from rnncalc.convert.plan import Renamed
    from rnncalc.core.spec import Spec, describe_spec

    model = plan.source.model
    assert model is not None
    source, target = plan.source.convention, plan.target_convention
    release = getattr(weights, "release", None)
    chain = zip(source.model_rows(model), target.model_rows(model), strict=True)
    for (part, size, source_rows), (_, _, target_rows_) in chain:
        if isinstance(part, Spec):
            spec = part.replace(input_size=size)
            own = Renamed(source.block_paths(spec, source_rows), weights)
            inside = target.block_paths(spec, target_rows_)
            for path, array in _stack_pairs(source, target, spec, own, f"{describe_spec(spec)}: "):
                yield inside[path], array
                del array  # not held while the next tensor is made
        else:
            held = dict(source.part_canonical(part, row.name, weights[row.path]) for row in source_rows)
            for row in target_rows_:
                array = target.part_tensor_from_canonical(part, size, row.name, held)
                yield row.path, array
                del array
            del held
            if release is not None:
                for row in source_rows:
                    release(row.path)
