"""``rnncalc verify``'s core: run a real framework and the numpy reference on the same weights
and input, and compare every returned tensor.

Imports numpy; frameworks are reached only through :mod:`rnncalc.frameworks`, lazily.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from rnncalc import frameworks as backends
from rnncalc import reference
from rnncalc.core.calc import keras_unsupported, torch_unsupported
from rnncalc.core.errors import SpecError
from rnncalc.core.spec import Framework, Spec
from rnncalc.frameworks import INSTALL_HINT, probe_spec
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
            delta = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
            diff = float(delta.max()) if delta.size else 0.0
            if not np.isfinite(diff):
                diff = None
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


def random_input(spec: Spec, framework: Framework, seed: int) -> np.ndarray[Any, Any]:
    """Standard-normal float32 input in ``framework``'s layout for a spec of known sizes.

    The values are drawn batch-major ``(N, L, I)`` from ``seed`` and then laid out, so PyTorch
    and Keras see the same numbers.
    """
    assert spec.input_size is not None and spec.seq_len is not None
    batch = 1 if spec.unbatched else spec.batch_size
    assert batch is not None
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, spec.seq_len, spec.input_size)).astype(np.float32)
    if framework is Framework.KERAS or (spec.batch_first and not spec.unbatched):
        return x
    if spec.unbatched:
        return np.ascontiguousarray(x[0])
    return np.ascontiguousarray(x.transpose(1, 0, 2))


def unsupported(spec: Spec, framework: Framework) -> str | None:
    return torch_unsupported(spec) if framework is Framework.TORCH else keras_unsupported(spec)


def framework_pass(
    spec: Spec, framework: Framework, seed: int, x: np.ndarray[Any, Any]
) -> tuple[dict[str, Any], dict[str, np.ndarray[Any, Any]]]:
    """Build the real model with ``seed``, run it on ``x``: (its weights, its named outputs)."""
    if framework is Framework.TORCH:
        from rnncalc.frameworks import torch as torch_adapter

        module = torch_adapter.build_seeded(spec, seed)
        return torch_adapter.weights_numpy(module), torch_adapter.run(module, spec, x)
    from rnncalc.frameworks import keras as keras_adapter

    model = keras_adapter.build_seeded(spec, seed)
    return keras_adapter.weights_numpy(model), keras_adapter.run(model, spec, x)


def verify_framework(spec: Spec, framework: Framework, seed: int, atol: float) -> FrameworkVerification:
    """Compare ``framework`` with the reference for ``spec`` (batch/length already concrete)."""
    if not backends.is_installed(framework):
        return FrameworkVerification(
            framework, Status.SKIPPED, note=f"not installed; install it with: {INSTALL_HINT[framework]}"
        )
    reason = unsupported(spec, framework)
    if reason:
        return FrameworkVerification(framework, Status.NOT_EXPRESSIBLE, note=reason)
    x = random_input(spec, framework, seed)
    weights, outputs = framework_pass(spec, framework, seed, x)
    expected = reference.forward(framework, spec, reference.convert(framework, spec, weights), x)
    comparisons = compare(outputs, expected, atol)
    status = Status.AGREES if all(c.within for c in comparisons) else Status.DIFFERS
    return FrameworkVerification(framework, status, comparisons)


def verify(
    spec: Spec,
    frameworks: Iterable[Framework],
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
