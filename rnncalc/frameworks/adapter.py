"""What every adapter shares: the measured result, the probe sizes and the silencer.

Imported by the framework modules' adapter methods and by the commands that run real models
(``check``, ``verify``, ``code``), never on the analytic path.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rnncalc.core.errors import FrameworkMissingError
from rnncalc.core.spec import Spec
from rnncalc.core.symbolic import Shape

if TYPE_CHECKING:
    from rnncalc.core.convention import Convention
    from rnncalc.core.model import Model

#: Concrete sizes for dimensions the spec leaves unknown, small so forward passes are cheap.
PROBE_BATCH = 2
PROBE_SEQ_LEN = 3


@dataclass(frozen=True)
class Measured:
    """What the real framework reports for a model built from a spec."""

    framework: str  # the convention's registry name
    total_params: int
    weights: tuple[tuple[str, Shape], ...]  # (path, shape) in the framework's order
    outputs: tuple[tuple[str, Shape], ...]  # (name, shape) from an actual forward pass
    probe: Spec  # the spec with unknown batch/time filled in, which the forward pass used
    device: str = "cpu"  # "meta": PyTorch built the model without allocating its weights
    outputs_checked: bool = True  # False when no forward pass could run (see ``note``)
    note: str | None = None


def require(convention: Convention) -> None:
    """Raise :class:`FrameworkMissingError` with the install line when the framework is missing."""
    if not convention.is_installed():
        raise FrameworkMissingError(
            f"{convention.name} is not installed; install it with: {convention.install_hint}"
        )


def probe_spec(spec: Spec) -> Spec:
    """``spec`` with unknown batch and sequence length set to small concrete values."""
    changes: dict[str, int] = {}
    if spec.batch_size is None and not spec.unbatched:
        changes["batch_size"] = PROBE_BATCH
    if spec.seq_len is None and not spec.step:  # a cell runs one step: no time axis
        changes["seq_len"] = PROBE_SEQ_LEN
    return spec.replace(**changes) if changes else spec


def probe_model(model: Model) -> Model:
    """``model`` with unknown batch and sequence length set to the probe sizes, as the
    adapters' ``measure_model`` runs it."""
    from rnncalc.core.model import override

    return override(
        model, {"batch_size": model.batch_size or PROBE_BATCH, "seq_len": model.seq_len or PROBE_SEQ_LEN}
    )


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
