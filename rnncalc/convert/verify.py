"""Run a conversion's source and its written result on the same random input.

Where a file holds its own graph (a Keras model, an ONNX model: its format's ``run_file``), its
framework loads and runs that file as a user does, so whatever the file computes beyond what
rnncalc read from it shows. Where it holds weights only (a state dict, a Flax state), the model
rnncalc reconstructed runs in the file's framework (each convention's ``run_real`` or
``run_model_real``) with the file's tensors; a target's are read back from the file just
written. The first output of each side is brought to one batch-major layout, ``(N, L,
features)`` or a last step ``(N, features)`` (ONNX's ``Y`` keeps the directions on their own
axis, which a reshape joins as concatenation does). A source file whose output cannot be
matched to the target's (``--part`` picked a part of it, another layout) is not compared: the
reconstruction runs instead, and :class:`Verified` says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rnncalc.core.errors import ConversionError

if TYPE_CHECKING:
    from rnncalc.core.spec import Spec
    from rnncalc.frameworks.contract import FrameworkConvention
    from rnncalc.frameworks.writing import Plan

#: Batch and length of the random input: small, and different so a transposed axis shows.
BATCH, STEPS = 3, 7
#: Why a side's reconstruction runs, where its format holds no graph rnncalc runs.
WEIGHTS_ONLY = "read as weights only"


@dataclass(frozen=True)
class Verified:
    """max |source − target| over the compared output (None: a NaN or an infinity in either,
    :func:`rnncalc.reference.largest_difference`), and how each side ran: ``file run by
    Keras``, or ``rebuilt in PyTorch (read as weights only)``."""

    difference: float | None
    source: str
    target: str


def written_weights(plan: Plan) -> Mapping[str, Any]:
    """The tensors of the written file, named as the target convention names them: read back
    as a source (a whole model read as the model written)."""
    from rnncalc.convert.plan import read_source, source_weights, weights_spec

    if plan.source.model is not None:
        written = read_source(plan.destination, model=plan.source.model)
    else:
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


def compare(plan: Plan, seed: int = 0) -> Verified:
    """Source and written file run on one random input (token ids after an embedding, else
    features), each as its file allows: the file itself, else the model rnncalc rebuilt."""
    from rnncalc.convert.plan import source_weights
    from rnncalc.io.tensor_data import CannotRun
    from rnncalc.reference import largest_difference

    x = _input(plan, seed)
    target, target_ran = _target_output(plan, x)
    runner, reason = plan.source.format.run_file, WEIGHTS_ONLY
    if runner is not None and plan.source.part:
        reason = "--part picked a part of the file"
    elif runner is not None:
        try:
            by, outputs = runner(plan.source.path, x)
        except CannotRun as why:
            reason = str(why)
        else:
            pair = _matched(outputs[0] if outputs else None, target, plan)
            if isinstance(pair, tuple):
                return Verified(largest_difference(*pair), f"file run by {by}", target_ran)
            reason = pair
    data = plan.source.format.open(plan.source.path)
    try:
        expected = _rebuilt(plan, plan.source.convention, _arrays(source_weights(plan.source, data)), x)
    finally:
        data.close()
    if expected.shape != target.shape:
        raise ConversionError(f"verify: the source returns {expected.shape}, the target {target.shape}")
    source_ran = f"rebuilt in {plan.source.convention.title} ({reason})"
    return Verified(largest_difference(expected, target), source_ran, target_ran)


def _input(plan: Plan, seed: int) -> Any:
    """The random batch-major input: token ids ``(N, L)`` after an embedding, else features."""
    import numpy as np

    from rnncalc.core.model import override
    from rnncalc.reference_parts import random_model_input

    if plan.source.model is not None:
        model = override(plan.source.model, {"batch_size": BATCH, "seq_len": STEPS})
        return random_model_input(model, BATCH, STEPS, seed)
    assert plan.spec.input_size is not None
    features = np.random.default_rng(seed).standard_normal((BATCH, STEPS, plan.spec.input_size))
    return features.astype(np.float32)


def _target_output(plan: Plan, x: Any) -> tuple[Any, str]:
    """The written file's output, batch-major, and how it ran: the file itself where its format
    holds a graph and its framework runs it, else the rebuilt model with the tensors read back."""
    from rnncalc.io.tensor_data import CannotRun

    runner, reason = plan.target.run_file, WEIGHTS_ONLY
    if runner is not None:
        try:
            by, outputs = runner(plan.destination, x)
        except CannotRun as why:
            reason = str(why)
        else:
            got = _batch_major(outputs[0]) if outputs else None
            if got is not None:
                return got, f"file run by {by}"
            reason = f"its output {_shape(outputs)} is in no layout rnncalc reads"
    got = _rebuilt(plan, plan.target_convention, written_weights(plan), x)
    return got, f"rebuilt in {plan.target_convention.title} ({reason})"


def _shape(outputs: list[Any]) -> str:
    return str(tuple(outputs[0].shape)) if outputs else "(none)"


def _batch_major(out: Any) -> Any:
    """``out`` as ``(N, L, features)`` or a last step ``(N, features)``: also from time-major
    ``(L, N, features)``, ONNX's ``Y`` ``(L, D, N, H)`` and its batch-major ``(N, L, D, H)``;
    None for any other shape (``N`` and ``L`` differ, so the axes tell)."""
    import numpy as np

    out = np.asarray(out)
    shape = out.shape
    if out.ndim == 2 and shape[0] == BATCH:
        return out
    if out.ndim == 3 and shape[:2] == (BATCH, STEPS):
        return out
    if out.ndim == 3 and shape[:2] == (STEPS, BATCH):
        return np.swapaxes(out, 0, 1)
    if out.ndim == 4 and shape[0] == STEPS and shape[2] == BATCH:
        return np.transpose(out, (2, 0, 1, 3)).reshape(BATCH, STEPS, -1)
    if out.ndim == 4 and shape[:2] == (BATCH, STEPS):
        return out.reshape(BATCH, STEPS, -1)
    return None


def _matched(out: Any, target: Any, plan: Plan) -> tuple[Any, Any] | str:
    """The source file's output and the target's, as two arrays of one shape; or why they
    cannot be compared. A file whose last recurrent layer, with nothing after it but dropout,
    returns its last step only (Keras's ``return_sequences=False``) is compared with the
    target's last step: each direction's final state, the backward one at the first step."""
    import numpy as np

    got = _batch_major(out) if out is not None else None
    if got is None:
        return f"its output {None if out is None else tuple(np.shape(out))} is in no layout rnncalc reads"
    if got.shape == target.shape:
        return got, target
    last = _last_step(target, _tail(plan)) if got.ndim == 2 and target.ndim == 3 else None
    if last is not None and last.shape == got.shape:
        return got, last
    return f"its output {tuple(got.shape)} does not match the target's {tuple(target.shape)}"


def _tail(plan: Plan) -> Spec | None:
    """The recurrent block whose output is the model's (nothing after it but dropout), or None."""
    from rnncalc.core.model import Dropout
    from rnncalc.core.spec import Spec

    model = plan.source.model
    if model is None:
        return plan.spec
    after = model.parts[model.last_block + 1 :]
    tail = model.parts[model.last_block]
    return tail if isinstance(tail, Spec) and all(isinstance(part, Dropout) for part in after) else None


def _last_step(sequence: Any, spec: Spec | None) -> Any:
    """Each direction's final state in ``spec``'s output ``sequence`` (batch-major), as a layer
    returning its last step gives it; None where the directions are merged otherwise than by
    concatenation."""
    import numpy as np

    from rnncalc.core.spec import MergeMode

    if spec is None:
        return None
    if not spec.bidirectional:
        return sequence[:, -1]
    if spec.merge_mode is not MergeMode.CONCAT:
        return None
    half = sequence.shape[-1] // 2
    return np.concatenate([sequence[:, -1, :half], sequence[:, 0, half:]], axis=-1)


def _arrays(weights: Mapping[str, Any]) -> dict[str, Any]:
    """Every tensor read into a writable array (torch warns about read-only memory maps)."""
    import numpy as np

    return {name: np.array(value, dtype=np.float32) for name, value in weights.items()}


def _rebuilt(plan: Plan, convention: FrameworkConvention, weights: Mapping[str, Any], x: Any) -> Any:
    """The output of the model rnncalc rebuilds in ``convention`` with ``weights`` on the
    batch-major ``x``, batch-major: a stack returning every step (``run_real``), a whole model
    as described (``run_model_real``)."""
    import numpy as np

    from rnncalc.core.model import override

    if plan.source.model is None:
        spec = plan.spec.replace(batch_first=True, return_sequences=True, batch_size=BATCH, seq_len=STEPS)
        out = np.asarray(next(iter(convention.run_real(spec, weights, x).values())))
        return out.reshape(BATCH, STEPS, -1)
    model = override(plan.source.model, {"batch_size": BATCH, "seq_len": STEPS})
    batch_first = convention.model_batch_first(model)
    out = np.asarray(
        convention.run_model_real(model, weights, x if batch_first else np.swapaxes(x, 0, 1))["output"]
    )
    return out if batch_first or out.ndim < 3 else np.swapaxes(out, 0, 1)
