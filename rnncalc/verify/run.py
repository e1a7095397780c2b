"""``rnncalc verify``'s core: run a real framework and the numpy reference on the same weights
and input, and compare every returned tensor.

Imports numpy; each framework is reached through its convention (:mod:`rnncalc.frameworks`),
which imports it at first use: ``run_real`` runs the real model, ``to_canonical`` and
``reference_forward`` the numpy reference in the framework's layout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from rnncalc import frameworks as registry
from rnncalc.core.errors import ConversionError, SpecError
from rnncalc.core.model import Model, model_from_spec
from rnncalc.core.spec import Spec
from rnncalc.frameworks import adapter
from rnncalc.frameworks.adapter import probe_spec, quiet
from rnncalc.reference import largest_difference
from rnncalc.reference_parts import (
    ModelWeights,
    random_model_input,
    random_model_weights,
    run_model,
    without_recurrent_bias,
)
from rnncalc.verify.model import DEFAULT_ATOL, Comparison, FrameworkVerification, Status, Verification


def compare(
    framework_outputs: Mapping[str, Any], reference_outputs: Mapping[str, Any], atol: float
) -> tuple[Comparison, ...]:
    """Max absolute difference per tensor name, framework order first, then any the reference
    alone returned. A missing tensor or a shape mismatch never counts as agreement."""
    names = list(framework_outputs) + [n for n in reference_outputs if n not in framework_outputs]
    comparisons = []
    for name in names:
        actual = _array_or_none(framework_outputs.get(name))
        expected = _array_or_none(reference_outputs.get(name))
        diff = None
        if actual is not None and expected is not None and actual.shape == expected.shape:
            diff = largest_difference(actual, expected)
        comparisons.append(
            Comparison(
                name,
                tuple(actual.shape) if actual is not None else None,
                tuple(expected.shape) if expected is not None else None,
                diff,
                atol,
            )
        )
    return tuple(comparisons)


def _array_or_none(value: Any) -> np.ndarray[Any, Any] | None:
    return None if value is None else np.asarray(value)


def random_input(spec: Spec, framework: str, seed: int) -> Any:
    """Standard-normal float32 input in ``framework``'s layout (its convention's
    ``input_shape``) for a spec of known sizes, drawn from ``seed``.

    For a step (``spec.step``) a mapping of ``"x"`` and the initial states the cell is called
    with (``step_states``: ``h_0``, ``c_0``), all drawn nonzero, so the check covers how the
    cell uses the states it is given and not only zeros.
    """
    convention = registry.get(framework)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(convention.input_shape(spec)).astype(np.float32)
    if not spec.step:
        return x
    states = {
        name: rng.standard_normal(shape).astype(np.float32) for name, shape in convention.step_states(spec)
    }
    return {"x": x, **states}


def random_weights(spec: Spec, framework: str, seed: int) -> dict[str, np.ndarray[Any, Any]]:
    """Every weight the framework holds for ``spec``, named and shaped as its convention's
    report says, drawn ``U(-1/sqrt(H), 1/sqrt(H))`` (the frameworks' usual init) from ``seed``.

    Drawn in the framework's own layout, so every framework can hold them whatever its bias
    layout, and its ``to_canonical`` is what the reference sees.
    """
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(spec.hidden_size)
    return {
        row.path: rng.uniform(-bound, bound, size=row.shape).astype(np.float32)  # type: ignore[arg-type]
        for row in registry.get(framework).report(spec).weights
    }


def verify_framework(spec: Spec, framework: str, seed: int, atol: float) -> FrameworkVerification:
    """Compare ``framework`` with the reference for ``spec`` (batch/length already concrete): the
    real model and the numpy reference run the same random weights on the same random input."""
    convention = registry.get(framework)
    if not convention.is_installed():
        return _not_installed(framework, convention.install_hint)
    reason = convention.unsupported(spec)
    if reason:
        return FrameworkVerification(framework, Status.NOT_EXPRESSIBLE, note=reason)
    x = random_input(spec, framework, seed)
    weights = random_weights(spec, framework, seed)
    with quiet():
        outputs = convention.run_real(spec, weights, x)
    expected = convention.reference_forward(spec, convention.to_canonical(spec, weights), x)
    return _verdict(framework, compare(outputs, expected, atol))


def verify(
    spec: Spec,
    frameworks: Iterable[str],
    seed: int = 0,
    atol: float = DEFAULT_ATOL,
    require: bool = False,
) -> Verification:
    """Verify ``spec`` against each framework; unknown batch and length take small defaults."""
    if spec.input_size is None:
        raise SpecError("input_size", "is required: verify runs real forward passes")
    if atol < 0:
        raise SpecError("atol", f"must be zero or positive, got {atol}")
    probe = probe_spec(spec)
    results = tuple(verify_framework(probe, framework, seed, atol) for framework in frameworks)
    return Verification(probe, seed, atol, results, require)


# --- Whole models --------------------------------------------------------------------------------


def probe_model(model: Model) -> Model:
    """``model`` with unknown batch and sequence length set to the small probe sizes."""
    if model.is_flat:
        return model_from_spec(probe_spec(model.layers[0]), model.name)
    return adapter.probe_model(model)


def held_weights(
    model: Model, framework: str, weights: ModelWeights
) -> tuple[ModelWeights, dict[str, np.ndarray[Any, Any]], str | None]:
    """``weights`` and ``framework``'s named tensors for them; when the framework cannot hold
    them (a Flax GRU's ``b_hn``), the same with every recurrent ``b_h`` zero, and a note saying
    why. Raises :class:`ConversionError` when it cannot hold even those."""
    convention = registry.get(framework)
    try:
        return weights, convention.model_from_canonical(model, weights), None
    except ConversionError as error:
        zeroed = without_recurrent_bias(weights)
        note = f"recurrent biases b_h set to zero: {error}"
        return zeroed, convention.model_from_canonical(model, zeroed), note


def verify_model_framework(
    model: Model, framework: str, weights: ModelWeights, x: Any, atol: float
) -> FrameworkVerification:
    """Compare the real model ``framework`` builds for ``model`` (batch and time known) with the
    numpy reference: the same canonical ``weights``, converted by the framework's
    ``model_from_canonical`` and loaded, on the same batch-major input ``x``."""
    convention = registry.get(framework)
    if not convention.is_installed():
        return _not_installed(framework, convention.install_hint)
    reason = convention.model_report(model).reason
    if reason:
        return FrameworkVerification(framework, Status.NOT_EXPRESSIBLE, note=reason)
    try:
        weights, named, note = held_weights(model, framework, weights)
    except ConversionError as error:
        return FrameworkVerification(framework, Status.NOT_EXPRESSIBLE, note=str(error))
    batch_first = convention.model_batch_first(model)
    xs = x if batch_first else np.swapaxes(x, 0, 1)
    with quiet():
        outputs = convention.run_model_real(model, named, xs)
    expected = {
        "output": run_model(
            model, weights, xs, batch_first=batch_first, last_step=convention.model_last_step(model)
        )
    }
    return _verdict(framework, compare(outputs, expected, atol), note)


def verify_model(
    model: Model,
    frameworks: Iterable[str],
    seed: int = 0,
    atol: float = DEFAULT_ATOL,
    require: bool = False,
) -> Verification:
    """Verify a whole model against each framework: random nonzero canonical weights and one
    random input (token ids after an embedding) drawn from ``seed``; unknown batch and length
    take small defaults."""
    if model.input_size is None:
        raise SpecError("input_size", "is required: verify runs real forward passes")
    if atol < 0:
        raise SpecError("atol", f"must be zero or positive, got {atol}")
    probe = probe_model(model)
    assert probe.batch_size is not None and probe.seq_len is not None
    weights = random_model_weights(probe, seed)
    x = random_model_input(probe, probe.batch_size, probe.seq_len, seed)
    results = tuple(verify_model_framework(probe, name, weights, x, atol) for name in frameworks)
    return Verification(probe.layers[0], seed, atol, results, require, probe)


def _not_installed(framework: str, install_hint: str) -> FrameworkVerification:
    return FrameworkVerification(
        framework, Status.SKIPPED, note=f"not installed; install it with: {install_hint}"
    )


def _verdict(
    framework: str, comparisons: tuple[Comparison, ...], note: str | None = None
) -> FrameworkVerification:
    """Agrees when every output is within the tolerance (a NaN never is)."""
    status = Status.AGREES if all(c.within for c in comparisons) else Status.DIFFERS
    return FrameworkVerification(framework, status, comparisons, note)
