"""Compare an analytic :class:`~rnncalc.core.report.FrameworkReport` with what the real framework measured.

Pure: the :class:`~rnncalc.frameworks.adapter.Measured` value is plain data, so this module imports no
framework. The analytic report must be computed for ``measured.probe`` (the spec with unknown
batch and time filled in) so that every shape compares exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from rnncalc.core.report import FrameworkReport
from rnncalc.core.symbolic import Shape, format_shape, shape_to_json

if TYPE_CHECKING:
    from rnncalc.frameworks.adapter import Measured

#: A compared value: a parameter count, a shape, or None when one side has no such item.
Value = int | Shape | None


class RowKind(str, Enum):
    PARAMS = "params"
    WEIGHT = "weight"
    OUTPUT = "output"


@dataclass(frozen=True)
class CrossRow:
    """One compared item: the analytic and the real value side by side."""

    kind: RowKind
    item: str  # "total params", a weight path, or an output name
    analytic: Value
    real: Value

    @property
    def ok(self) -> bool:
        return self.analytic == self.real

    def describe(self) -> str:
        """``weight_hh_l0: analytic (36, 9), real (32, 8)`` for a summary line."""
        return f"{self.item}: analytic {format_value(self.analytic)}, real {format_value(self.real)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "item": self.item,
            "analytic": _value_json(self.analytic),
            "real": _value_json(self.real),
            "ok": self.ok,
        }


@dataclass(frozen=True)
class CrossCheck:
    """Every row compared for one framework, and how the real model was run."""

    framework: str  # registry name
    rows: tuple[CrossRow, ...]
    device: str = "cpu"  # "meta" when PyTorch built the model without allocating weights
    note: str | None = None  # e.g. why output shapes were not checked
    batch_size: int | None = None  # the forward pass's input: None = unbatched
    seq_len: int | None = None

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def differing(self) -> tuple[CrossRow, ...]:
        return tuple(row for row in self.rows if not row.ok)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "device": self.device,
            "note": self.note,
            "probe": {"batch_size": self.batch_size, "seq_len": self.seq_len},
            "rows": [row.to_dict() for row in self.rows],
        }


def crosscheck(report: FrameworkReport, measured: Measured) -> CrossCheck:
    """Rows for the total, every weight (by its framework name) and every returned tensor.

    A weight or output present on one side only yields a row whose other side is None, so a
    missing or extra tensor is named rather than silently ignored.
    """
    if report.framework != measured.framework:
        raise ValueError(f"cannot compare a {report.framework} report with a {measured.framework}")
    total = report.total.value if report.total.is_known else None
    rows = [CrossRow(RowKind.PARAMS, "total params", total, measured.total_params)]
    analytic_weights = {weight.path: weight.shape for weight in report.weights}
    rows += _paired(RowKind.WEIGHT, analytic_weights, dict(measured.weights))
    if measured.outputs_checked:
        rows += _paired(RowKind.OUTPUT, dict(report.outputs), dict(measured.outputs))
    probe = measured.probe
    return CrossCheck(
        report.framework, tuple(rows), measured.device, measured.note, probe.batch_size, probe.seq_len
    )


def _paired(kind: RowKind, analytic: dict[str, Shape], real: dict[str, Shape]) -> list[CrossRow]:
    """Analytic items in their order, then any the real framework has in addition."""
    rows = [CrossRow(kind, name, shape, real.get(name)) for name, shape in analytic.items()]
    rows += [CrossRow(kind, name, None, shape) for name, shape in real.items() if name not in analytic]
    return rows


def format_value(value: Value) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return format_shape(value)


def _value_json(value: Value) -> Any:
    if value is None or isinstance(value, int):
        return value
    return shape_to_json(value)
