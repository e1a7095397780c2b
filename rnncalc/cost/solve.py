"""The largest hidden size within a budget of parameters, FLOPs or memory.

Every metric is a quadratic polynomial in the hidden size H (weights ``gates·H·(I+H)``, the rest
linear in H), so the answer is the exact integer solution of ``a·H² + b·H + c ≤ budget``.
The coefficients come from evaluating the calculator at three sizes (not from re-derived
formulas); a fourth evaluation checks the fit, and the calculator verifies the answer:
``metric(H) ≤ budget < metric(H + 1)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from math import isqrt, lcm
from typing import Any

from rnncalc.core.errors import RnncalcError, SpecError
from rnncalc.core.model import Model, override
from rnncalc.core.spec import Spec
from rnncalc.cost.model import DType, Optimizer, cost


class Metric(str, Enum):
    PARAMS = "params"
    FLOPS = "flops"
    MEMORY = "memory"


class MemoryKind(str, Enum):
    """What ``--max-memory`` bounds: parameters plus inference or training activations."""

    INFERENCE = "inference"
    TRAINING = "training"


#: The flag of each budget, for messages.
BUDGET_FLAGS: dict[Metric, str] = {
    Metric.PARAMS: "--max-params",
    Metric.FLOPS: "--max-flops",
    Metric.MEMORY: "--max-memory",
}


@dataclass(frozen=True)
class Quadratic:
    """``a·H² + b·H + c`` with rational coefficients."""

    a: Fraction
    b: Fraction
    c: Fraction

    def __call__(self, h: int) -> Fraction:
        return (self.a * h + self.b) * h + self.c

    @classmethod
    def through(cls, h0: int, f0: int, f1: int, f2: int) -> Quadratic:
        """The quadratic through ``(h0, f0), (h0+1, f1), (h0+2, f2)`` (finite differences)."""
        a = Fraction(f2 - 2 * f1 + f0, 2)
        b = Fraction(f1 - f0) - a * (2 * h0 + 1)
        c = Fraction(f0) - a * h0 * h0 - b * h0
        return cls(a, b, c)


def largest_within(q: Quadratic, budget: int, lowest: int) -> int | None:
    """The largest integer ``H ≥ lowest`` with ``q(H) ≤ budget``, for ``q`` increasing from
    ``lowest`` on; None when even ``lowest`` does not fit. Integer-exact (math.isqrt)."""
    if q(lowest) > budget:
        return None
    scale = lcm(q.a.denominator, q.b.denominator, q.c.denominator)
    a = int(q.a * scale)
    b = int(q.b * scale)
    c = int((q.c - budget) * scale)
    if a == 0:
        h = (-c) // b  # b > 0: q increases
    else:
        discriminant = b * b - 4 * a * c  # ≥ 0 because q(lowest) ≤ budget
        h = (-b + isqrt(discriminant)) // (2 * a)
    # isqrt floors the root; step to the exact boundary (at most a step or two).
    while q(h + 1) <= budget:
        h += 1
    while q(h) > budget:
        h -= 1
    return max(h, lowest)


@dataclass(frozen=True)
class Bound:
    """The answer for one budget: largest H, and the metric there and one size up."""

    metric: Metric
    budget: int
    hidden: int | None  # None: even the smallest hidden size exceeds the budget
    at_hidden: int | None
    at_next: int
    smallest: int  # the smallest valid hidden size (1, or proj_size + 1)
    at_smallest: int
    quadratic: Quadratic

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric.value,
            "budget": self.budget,
            "hidden_size": self.hidden,
            "value_at_hidden": self.at_hidden,
            "value_at_next": self.at_next,
            "polynomial": {
                "a": _number(self.quadratic.a),
                "b": _number(self.quadratic.b),
                "c": _number(self.quadratic.c),
            },
        }


@dataclass(frozen=True)
class Solution:
    """The largest hidden size satisfying every budget, with each budget's own bound."""

    spec: Spec | Model  # at the solved hidden size (or at the smallest one when nothing fits)
    framework: str  # registry name
    dtype: DType
    memory_kind: MemoryKind
    lengths: tuple[int, ...] | None
    bounds: tuple[Bound, ...]
    optimizer: Optimizer = Optimizer.NONE  # counted in training memory only

    @property
    def hidden(self) -> int | None:
        sizes = [bound.hidden for bound in self.bounds]
        return None if any(size is None for size in sizes) else min(s for s in sizes if s is not None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "framework": self.framework,
            "dtype": self.dtype.value,
            "memory_kind": self.memory_kind.value,
            "optimizer": self.optimizer.value,
            "model" if isinstance(self.spec, Model) else "spec": self.spec.to_dict(),
            "hidden_size": self.hidden,
            "budgets": [bound.to_dict() for bound in self.bounds],
        }


def with_hidden(subject: Spec | Model, hidden: int) -> Spec | Model:
    """``subject`` with hidden size ``hidden``: in a model, every recurrent layer's."""
    if isinstance(subject, Model):
        return override(subject, {"hidden_size": hidden})
    return subject.replace(hidden_size=hidden)


def smallest_hidden(subject: Spec | Model) -> int:
    """The smallest valid hidden size: 1, or one more than the largest LSTM projection."""
    layers = subject.layers if isinstance(subject, Model) else (subject,)
    return max(layer.proj_size for layer in layers) + 1


def _number(value: Fraction) -> int | float:
    return value.numerator if value.denominator == 1 else float(value)


def metric_function(
    spec: Spec | Model,
    framework: str,
    metric: Metric,
    lengths: tuple[int, ...] | None = None,
    dtype: DType = DType.FLOAT32,
    memory_kind: MemoryKind = MemoryKind.INFERENCE,
    optimizer: Optimizer = Optimizer.NONE,
) -> Callable[[int], int]:
    """``H ↦ metric`` as the calculator computes it for ``spec`` with hidden size H."""

    def evaluate(hidden: int) -> int:
        report = cost(with_hidden(spec, hidden), lengths, dtype, names=(framework,)).framework(framework)
        if not report.supported or report.memory is None:
            raise SpecError("framework", f"{framework} cannot build this spec: {report.reason}")
        if metric is Metric.PARAMS:
            return report.params
        if metric is Metric.FLOPS:
            return report.total.flops
        if memory_kind is MemoryKind.TRAINING:
            return report.memory.training_bytes(dtype, optimizer)
        return report.memory.inference_bytes(dtype)

    return evaluate


def bound(evaluate: Callable[[int], int], metric: Metric, budget: int, smallest: int) -> Bound:
    """Fit the quadratic at three sizes, check it at a fourth, solve, verify with the calculator."""
    values = [evaluate(smallest + k) for k in range(3)]
    q = Quadratic.through(smallest, *values)
    check = smallest + 37
    if q(check) != evaluate(check) or q.a < 0 or values[1] <= values[0]:
        raise RnncalcError(f"internal: {metric.value} is not an increasing quadratic in the hidden size")
    hidden = largest_within(q, budget, smallest)
    if hidden is None:
        return Bound(metric, budget, None, None, values[0], smallest, values[0], q)
    at_hidden, at_next = evaluate(hidden), evaluate(hidden + 1)
    if not at_hidden <= budget < at_next:
        raise RnncalcError(
            f"internal: solved hidden size {hidden} fails verification "
            f"({at_hidden:,} ≤ {budget:,} < {at_next:,} is false)"
        )
    return Bound(metric, budget, hidden, at_hidden, at_next, smallest, values[0], q)


def solve(
    spec: Spec | Model,
    framework: str,
    budgets: dict[Metric, int],
    lengths: tuple[int, ...] | None = None,
    dtype: DType = DType.FLOAT32,
    memory_kind: MemoryKind = MemoryKind.INFERENCE,
    optimizer: Optimizer = Optimizer.NONE,
) -> Solution:
    """The largest hidden size of ``spec`` (its own hidden size is ignored; in a model, the one
    hidden size of every recurrent layer) within all budgets."""
    if not budgets:
        raise SpecError("budget", "give at least one of --max-params, --max-flops, --max-memory")
    smallest = smallest_hidden(spec)
    base = spec
    bounds = tuple(
        bound(
            metric_function(base, framework, metric, lengths, dtype, memory_kind, optimizer),
            metric,
            limit,
            smallest,
        )
        for metric, limit in budgets.items()
    )
    sizes = [b.hidden for b in bounds]
    solved = smallest if any(size is None for size in sizes) else min(s for s in sizes if s is not None)
    return Solution(with_hidden(base, solved), framework, dtype, memory_kind, lengths, bounds, optimizer)
