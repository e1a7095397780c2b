"""Run a conversion's source and its written result on the same random input.

Both run in their real frameworks (each convention's ``run_real``): the source with the
source file's tensors, the target with the tensors read back from the file just written. They
are compared on the last layer's output sequence, batch-major ``(N, L, features)``: every
convention returns it as its first output when asked for batch-first sequences (ONNX's ``Y``
keeps the directions on their own axis, which a reshape joins as concatenation does).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rnncalc.core.errors import ConversionError

if TYPE_CHECKING:
    from rnncalc.frameworks.contract import FrameworkConvention
    from rnncalc.frameworks.writing import Plan

#: Batch and length of the random input: small, and different so a transposed axis shows.
BATCH, STEPS = 3, 7


def written_weights(plan: Plan) -> Mapping[str, Any]:
    """The tensors of the written file, named as the target convention names them: read back
    as a source (a whole model read as the model written)."""
    from rnncalc.convert.plan import read_source, source_weights, weights_spec

    if plan.source.model is not None:
        written = read_source(plan.destination, model=plan.source.model)
        data = written.format.open(plan.destination)
        try:
            return _arrays(source_weights(written, data))
        finally:
            data.close()
    written = read_source(plan.destination)
    # A state dict does not record an RNN's nonlinearity, nor a Flax state how directions merge.
    unrecorded = {"nonlinearity": plan.spec.nonlinearity, "merge_mode": plan.spec.merge_mode}
    if weights_spec(written.spec, **unrecorded) != plan.spec:
        raise ConversionError(f"verify: {plan.destination} reads back as another stack")
    data = written.format.open(plan.destination)
    try:
        return _arrays(source_weights(written, data))
    finally:
        data.close()


def largest_difference(plan: Plan, seed: int = 0) -> float | None:
    """max |source − target| over the output sequence for one random input; None when either
    output holds a NaN or an infinity (:func:`rnncalc.reference.largest_difference`)."""
    import numpy as np

    from rnncalc.convert.plan import source_weights
    from rnncalc.reference import largest_difference as largest

    if plan.source.model is not None:
        return _model_difference(plan, seed)
    assert plan.spec.input_size is not None
    spec = plan.spec.replace(batch_first=True, return_sequences=True, batch_size=BATCH, seq_len=STEPS)
    x = np.random.default_rng(seed).standard_normal((BATCH, STEPS, plan.spec.input_size)).astype(np.float32)
    data = plan.source.format.open(plan.source.path)
    try:
        expected = plan.source.convention.run_real(spec, _arrays(source_weights(plan.source, data)), x)
    finally:
        data.close()
    got = plan.target_convention.run_real(spec, _arrays(written_weights(plan)), x)
    first, second = (np.asarray(next(iter(out.values()))) for out in (expected, got))
    first, second = first.reshape(BATCH, STEPS, -1), second.reshape(BATCH, STEPS, -1)
    if first.shape != second.shape:
        raise ConversionError(f"verify: the source returns {first.shape}, the target {second.shape}")
    return largest(first, second)


def _arrays(weights: Mapping[str, Any]) -> dict[str, Any]:
    """Every tensor read into a writable array (torch warns about read-only memory maps)."""
    import numpy as np

    return {name: np.array(value, dtype=np.float32) for name, value in weights.items()}


def _model_difference(plan: Plan, seed: int) -> float | None:
    """:func:`largest_difference` for a whole model: source and target built as the model
    (each framework's ``run_model_real``) on the same input (token ids after an embedding)."""
    import numpy as np

    from rnncalc.convert.plan import source_weights
    from rnncalc.core.model import override
    from rnncalc.reference import largest_difference as largest
    from rnncalc.reference_parts import random_model_input

    assert plan.source.model is not None
    model = override(plan.source.model, {"batch_size": BATCH, "seq_len": STEPS})
    x = random_model_input(model, BATCH, STEPS, seed)
    source, target = plan.source.convention, plan.target_convention

    def run(convention: FrameworkConvention, weights: Mapping[str, Any]) -> Any:
        batch_first = convention.model_batch_first(model)
        out = np.asarray(
            convention.run_model_real(model, weights, x if batch_first else np.swapaxes(x, 0, 1))["output"]
        )
        return out if batch_first or out.ndim < 3 else np.swapaxes(out, 0, 1)

    data = plan.source.format.open(plan.source.path)
    try:
        expected = run(source, _arrays(source_weights(plan.source, data)))
    finally:
        data.close()
    got = run(target, written_weights(plan))
    if expected.shape != got.shape:
        raise ConversionError(f"verify: the source returns {expected.shape}, the target {got.shape}")
    return largest(expected, got)
