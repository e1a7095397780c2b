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
from rnncalc.core.errors import SpecError
from rnncalc.core.spec import Spec
from rnncalc.frameworks.adapter import probe_spec, quiet
from rnncalc.reference import largest_difference
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
        return FrameworkVerification(
            framework, Status.SKIPPED, note=f"not installed; install it with: {convention.install_hint}"
        )
    reason = convention.unsupported(spec)
    if reason:
        return FrameworkVerification(framework, Status.NOT_EXPRESSIBLE, note=reason)
    x = random_input(spec, framework, seed)
    weights = random_weights(spec, framework, seed)
    with quiet():
        outputs = convention.run_real(spec, weights, x)
    expected = convention.reference_forward(spec, convention.to_canonical(spec, weights), x)
    comparisons = compare(outputs, expected, atol)
    status = Status.AGREES if all(c.within for c in comparisons) else Status.DIFFERS
    return FrameworkVerification(framework, status, comparisons)


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
