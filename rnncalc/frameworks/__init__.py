"""Adapters that build the real PyTorch or Keras model for a spec and measure it.

Each adapter imports its framework only when called; ``available()`` asks importlib
whether a framework is installed without importing it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rnncalc.core.errors import FrameworkMissingError
from rnncalc.core.spec import Framework, Spec
from rnncalc.core.symbolic import Shape

if TYPE_CHECKING:
    from rnncalc.core.model import Model

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
    device: str = "cpu"  # "meta": PyTorch built the model without allocating its weights
    outputs_checked: bool = True  # False when no forward pass could run (see ``note``)
    note: str | None = None


def module_available(name: str) -> bool:
    """True when module ``name`` can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def is_installed(framework: Framework) -> bool:
    """True when the framework can be imported (checked without importing it)."""
    return module_available(REQUIRED_MODULE[framework])


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


def measure(spec: Spec, framework: Framework, *, device: str = "cpu") -> Measured:
    """Build the real model for ``spec`` in ``framework``, run it once, and report its numbers.

    ``device="meta"`` (PyTorch only) builds the model without allocating its weights, so a
    model larger than memory can still be checked. Each framework is imported once, at first
    use (Python's module cache keeps it for every later call).
    """
    require(framework)
    if framework is Framework.TORCH:
        from rnncalc.frameworks import torch as torch_adapter

        return torch_adapter.measure(spec, device=device)
    if device != "cpu":
        raise ValueError(f"Keras runs on the CPU here; device {device!r} is PyTorch only")
    from rnncalc.frameworks import keras as keras_adapter

    return keras_adapter.measure(spec)


def measure_model(model: Model, framework: Framework) -> Measured:
    """Build the real model (embedding, recurrent blocks, heads), run it once, report its numbers.

    ``probe`` of the result is the first recurrent block with the probe batch and time.
    """
    require(framework)
    if framework is Framework.TORCH:
        from rnncalc.frameworks import torch as torch_adapter

        return torch_adapter.measure_model(model)
    from rnncalc.frameworks import keras as keras_adapter

    return keras_adapter.measure_model(model)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Keep framework start-up noise off the user's terminal.

    TensorFlow's C++ logging writes to file descriptor 2 directly, absl and Python warnings go
    through ``sys.stderr``; all of it is redirected to a discarded temporary file while the
    block runs. Exceptions still propagate.
    """
    if sys.stderr is not None:
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (e.g. a GUI interpreter): only Python-level silence
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
        return
    try:
        with tempfile.TemporaryFile(mode="w+b") as sink, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            os.dup2(sink.fileno(), 2)
            try:
                with contextlib.redirect_stderr(io.StringIO()):
                    yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)
