"""The registry: every framework rnncalc knows, one :class:`~rnncalc.frameworks.contract.FrameworkConvention`
per module, in a fixed order (the order of tables, JSON keys and ``-F all``).

Adding a framework is one module defining ``CONVENTION`` plus one line in :data:`CONVENTIONS`.
Importing the registry imports each module's analytic part only: no framework, no numpy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rnncalc.core.errors import SpecError
from rnncalc.frameworks import flax, keras, onnx, torch

if TYPE_CHECKING:
    from rnncalc.core.model import Model
    from rnncalc.core.spec import Spec
    from rnncalc.frameworks.adapter import Measured
    from rnncalc.frameworks.contract import FrameworkConvention

#: Every registered convention, in display order.
CONVENTIONS: tuple[FrameworkConvention, ...] = (
    torch.CONVENTION,
    keras.CONVENTION,
    flax.CONVENTION,
    onnx.CONVENTION,
)

_BY_NAME: dict[str, FrameworkConvention] = {convention.name: convention for convention in CONVENTIONS}


def names() -> tuple[str, ...]:
    """Registry names in display order: ``("torch", "keras", ...)``."""
    return tuple(_BY_NAME)


def default_names() -> tuple[str, ...]:
    """What people see unless they pass ``-F``: the conventions shown by default."""
    return tuple(c.name for c in CONVENTIONS if c.shown_by_default)


def get(name: str) -> FrameworkConvention:
    """The convention registered as ``name``; :class:`SpecError` naming the valid ones otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise SpecError("framework", f"unknown framework {name!r}; choose {', '.join(_BY_NAME)}") from None


def select(chosen: Iterable[str] | None = None) -> tuple[FrameworkConvention, ...]:
    """The conventions named in ``chosen`` (validated), in registry order; None → all of them."""
    if chosen is None:
        return CONVENTIONS
    wanted = {get(name).name for name in chosen}
    return tuple(c for c in CONVENTIONS if c.name in wanted)


def installed() -> tuple[str, ...]:
    """Names of the conventions whose framework can be imported (asked of importlib only)."""
    return tuple(c.name for c in CONVENTIONS if c.is_installed())


def measure(spec: Spec, name: str, *, device: str = "cpu") -> Measured:
    """Build the real model for ``spec`` in framework ``name``, run it once, report its numbers.

    ``device="meta"`` (PyTorch only) builds the model without allocating its weights. Each
    framework is imported once, at first use.
    """
    return get(name).measure(spec, device=device)


def measure_model(model: Model, name: str) -> Measured:
    """:func:`measure` for a heterogeneous model (embedding, recurrent blocks, heads)."""
    return get(name).measure_model(model)
