"""Adapters that build the real PyTorch or Keras model for a spec and measure it.

Each adapter imports its framework only when called; ``available()`` asks importlib
whether a framework is installed without importing it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from rnncalc.errors import FrameworkMissingError
from rnncalc.model import Model
from rnncalc.spec import Framework, Spec
from rnncalc.symbolic import Shape

#: The module each framework needs, and how to install it.
REQUIRED_MODULE: dict[Framework, str] = {Framework.TORCH: "torch", Framework.KERAS: "keras"}
INSTALL_HINT: dict[Framework, str] = {
    Framework.TORCH: "pip install 'rnncalc[torch]'",
    Framework.KERAS: "pip install 'rnncalc[tensorflow]'",
}

#: Concrete sizes for dimensions the spec leaves unknown, small so forward passes are cheap.
PROBE_BATCH = 2
PROBE_SEQ_LEN = 3


@dataclass(frozen=True)
class Measured:
    """What the real framework reports for a model built from a spec."""

    framework: Framework
    total_params: int
    weights: tuple[tuple[str, Shape], ...]  # (path, shape) in the framework's order
    outputs: tuple[tuple[str, Shape], ...]  # (name, shape) from an actual forward pass
    probe: Spec  # the spec with unknown batch/time filled in, which the forward pass used


def is_installed(framework: Framework) -> bool:
    """True when the framework can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec(REQUIRED_MODULE[framework]) is not None
    except (ImportError, ValueError):
        return False


def installed() -> list[Framework]:
    return [framework for framework in Framework if is_installed(framework)]


def require(framework: Framework) -> None:
    if not is_installed(framework):
        raise FrameworkMissingError(
            f"{framework.value} is not installed; install it with: {INSTALL_HINT[framework]}"
        )


def probe_spec(spec: Spec) -> Spec:
    """``spec`` with unknown batch and sequence length set to small concrete values."""
    changes: dict[str, int] = {}
    if spec.batch_size is None and not spec.unbatched:
        changes["batch_size"] = PROBE_BATCH
    if spec.seq_len is None:
        changes["seq_len"] = PROBE_SEQ_LEN
    return spec.replace(**changes) if changes else spec


def measure(spec: Spec, framework: Framework) -> Measured:
    """Build the real model for ``spec`` in ``framework``, run it once, and report its numbers."""
    require(framework)
    if framework is Framework.TORCH:
        from rnncalc.backends import torch_adapter

        return torch_adapter.measure(spec)
    from rnncalc.backends import keras_adapter

    return keras_adapter.measure(spec)


def measure_model(model: Model, framework: Framework) -> Measured:
    """Build the real model (embedding, recurrent blocks, heads), run it once, report its numbers.

    ``probe`` of the result is the first recurrent block with the probe batch and time.
    """
    require(framework)
    if framework is Framework.TORCH:
        from rnncalc.backends import torch_adapter

        return torch_adapter.measure_model(model)
    from rnncalc.backends import keras_adapter

    return keras_adapter.measure_model(model)
