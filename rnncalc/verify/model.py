"""The result of ``rnncalc verify`` and its JSON form. Pure data: no numpy, no framework."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from rnncalc.core.report import SCHEMA_VERSION
from rnncalc.core.spec import Spec

if TYPE_CHECKING:
    from rnncalc.core.model import Model

#: Default tolerance: float32 forward passes of small stacks agree to ~1e-7; 1e-5 leaves room
#: for longer sequences and different summation orders without hiding a wrong equation.
DEFAULT_ATOL = 1e-5


def agrees(difference: float | None, atol: float) -> bool:
    """Whether a largest difference (:func:`rnncalc.reference.largest_difference`; None: not
    finite, or nothing to compare) is within ``atol``: the one test verify and convert apply."""
    return difference is not None and difference <= atol


class Status(str, Enum):
    AGREES = "agrees"
    DIFFERS = "differs"
    SKIPPED = "skipped"  # framework not installed
    NOT_EXPRESSIBLE = "not expressible"  # framework cannot build this spec


@dataclass(frozen=True)
class Comparison:
    """One returned tensor: the framework's value against the reference's."""

    name: str
    shape: tuple[int, ...] | None  # the framework's; None when it did not return this tensor
    reference_shape: tuple[int, ...] | None
    max_abs_diff: float | None  # None when the shapes differ or either holds a NaN or an infinity
    atol: float

    @property
    def within(self) -> bool:
        return agrees(self.max_abs_diff, self.atol)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape) if self.shape is not None else None,
            "reference_shape": list(self.reference_shape) if self.reference_shape is not None else None,
            "max_abs_diff": self.max_abs_diff,
            "within_atol": self.within,
        }


@dataclass(frozen=True)
class FrameworkVerification:
    """One framework's result: its comparisons, or why there are none."""

    framework: str  # registry name
    status: Status
    comparisons: tuple[Comparison, ...] = ()
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "status": self.status.value,
            "note": self.note,
            "tensors": [c.to_dict() for c in self.comparisons],
        }


@dataclass(frozen=True)
class Verification:
    """Every requested framework's result for one spec (with its probe batch and length), or
    for a whole ``model`` (then ``spec`` is its first recurrent block, with the probe sizes)."""

    spec: Spec
    seed: int
    atol: float
    results: tuple[FrameworkVerification, ...]
    require: bool = False  # a skipped framework counts as a failure
    model: Model | None = None

    @property
    def ok(self) -> bool:
        failed = {Status.DIFFERS, Status.SKIPPED} if self.require else {Status.DIFFERS}
        return not any(r.status in failed for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "command": "verify",
            **({"model": self.model.to_dict()} if self.model else {"spec": self.spec.to_dict()}),
            "seed": self.seed,
            "atol": self.atol,
            "ok": self.ok,
            "frameworks": [r.to_dict() for r in self.results],
        }
