"""Move a stack's weights into the target's layout one layer at a time.

Each layer goes through the conventions' own converters, ``source.to_canonical`` then
``target.from_canonical`` (gate reordering, transposes, biases summed or split), applied to a
one-layer spec of that layer; its tensors are renamed by position from the one-layer report to
the full stack's. Only one layer's tensors are held at a time, so a large checkpoint streams:
at the peak, a layer's canonical copy and its target copy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from rnncalc.convert.plan import output_features

if TYPE_CHECKING:
    import numpy as np

    from rnncalc.convert.plan import Plan
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


def converted(plan: Plan, weights: Mapping[str, Any]) -> Iterator[tuple[str, Array]]:
    """The target's ``(name, array)`` pairs in report order, from ``weights`` named as the source
    convention's report names them (read lazily, one layer at a time)."""
    source, target, spec = plan.source.convention, plan.target_convention, plan.spec
    source_layers = source.report(spec).layers
    target_layers = target.report(spec).layers
    for index in range(spec.num_layers):
        single = layer_spec(spec, index)
        single_source = source.report(single).layers[0].weights
        layer_weights = {
            alone.path: weights[full.path]
            for alone, full in zip(single_source, source_layers[index].weights, strict=True)
        }
        canonical = source.to_canonical(single, layer_weights)
        del layer_weights
        # The canonical copy is made: a memory-mapped source's pages can go before the
        # target's copy is made, so at most two copies of the layer are resident.
        release = getattr(weights, "release", None)
        if release is not None:
            for row in source_layers[index].weights:
                release(row.path)
        arrays = target.from_canonical(single, canonical)
        del canonical
        for alone, full in zip(
            target.report(single).layers[0].weights, target_layers[index].weights, strict=True
        ):
            yield full.path, arrays.pop(alone.path)
