"""Text for cost reports, solve answers and sweeps: tables for people, JSON and CSV for machines.

tabulate is imported only for tables, so the JSON and CSV paths do not load it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from rnncalc import frameworks
from rnncalc.core.model import Model
from rnncalc.core.spec import Spec, describe_spec
from rnncalc.core.units import human
from rnncalc.cost.model import (
    CONVENTION,
    DTYPE_BYTES,
    CostReport,
    DType,
    FrameworkCost,
    Optimizer,
    StepCost,
    Workload,
    workload,
)
from rnncalc.cost.solve import BUDGET_FLAGS, Metric, Solution
from rnncalc.summary.render import describe_model, to_json


class CostFormat(str, Enum):
    TABLE = "table"
    JSON = "json"


class SweepFormat(str, Enum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def _table(rows: list[list[Any]], headers: list[str], numeric: int) -> str:
    from tabulate import tabulate

    align = ["left"] * (len(headers) - numeric) + ["right"] * numeric
    return tabulate(rows, headers=headers, tablefmt="simple", colalign=align, disable_numparse=True)


def _n(value: int) -> str:
    return f"{value:,}"


def _wrap(line: str) -> str:
    return textwrap.fill(line, width=100, subsequent_indent="  ")


def describe_workload(wl: Workload) -> str:
    if wl.lengths:
        return (
            f"batch {wl.batch} with lengths {_lengths(wl.lengths)} (longest {wl.seq_len}): "
            f"{_n(wl.steps)} real steps per layer and direction (padded: {_n(wl.padded_steps)})"
        )
    steps = "step" if wl.steps == 1 else "steps"
    text = f"batch {wl.batch} × seq_len {wl.seq_len} = {_n(wl.steps)} {steps} per layer and direction"
    if wl.assumed:
        text += f" ({' and '.join(wl.assumed)} unknown, taken as 1)"
    return text


def describe_optimizer(optimizer: Optimizer) -> str:
    """``; optimizer adam`` for a heading, nothing when no optimizer state is counted."""
    return "" if optimizer is Optimizer.NONE else f"; optimizer {optimizer.value}"


def _lengths(lengths: tuple[int, ...]) -> str:
    shown = ",".join(str(n) for n in lengths[:8])
    return shown + (f",… ({len(lengths)} sequences)" if len(lengths) > 8 else "")


# --- cost ------------------------------------------------------------------------------------


def describe(spec: Spec | Model) -> str:
    """One line naming the spec or the model a cost is for."""
    return describe_model(spec) if isinstance(spec, Model) else describe_spec(spec)


def render_many(items: Sequence[CostReport] | Sequence[Solution], fmt: CostFormat) -> str:
    """Several answers (one per config file model): a JSON list (one document for one answer),
    or the tables one after another."""
    if fmt is CostFormat.JSON:
        docs = [item.to_dict() for item in items]
        return to_json(docs[0] if len(docs) == 1 else docs)
    return "\n\n".join(
        render_cost(item, fmt) if isinstance(item, CostReport) else render_solution(item, fmt)
        for item in items
    )


def render_cost(report: CostReport, fmt: CostFormat) -> str:
    if fmt is CostFormat.JSON:
        return to_json(report.to_dict())
    head = [
        describe(report.spec),
        describe_workload(report.workload)
        + f"; dtype {report.dtype.value}"
        + describe_optimizer(report.optimizer),
    ]
    parts = ["\n".join(head)]
    for framework in report.frameworks:
        parts.append(_framework_cost(framework, report.dtype, report.optimizer))
    notes = [f"Convention: {CONVENTION}"]
    if report.workload.assumed:
        missing = " and ".join(report.workload.assumed)
        notes.append(f"Assumed 1 for unknown {missing}; pass --batch and --seq-len (or --lengths).")
    parts.append("\n".join(_wrap(note) for note in notes))
    return "\n\n".join(parts)


def _framework_cost(cost: FrameworkCost, dtype: DType, optimizer: Optimizer) -> str:
    title = f"{frameworks.get(cost.framework).title} ({cost.model})"
    if not cost.supported or cost.memory is None:
        return f"{title}: not expressible\n{cost.reason}"

    def terms(s: StepCost) -> list[str]:
        return [_n(s.macs), _n(s.bias_adds), _n(s.product_sums), _n(s.activations), _n(s.gating), _n(s.flops)]

    rows: list[list[Any]] = [[d.layer, d.direction, *terms(d.step)] for d in cost.directions]
    rows.append(["all", "", *terms(cost.step)])
    per_step = _table(
        rows,
        ["per step, one sample", "direction", "MACs", "bias adds", "sums", "activations", "gating", "FLOPs"],
        numeric=6,
    )
    wl = cost.workload
    totals = _table(
        [
            [
                scope,
                _n(step.macs),
                _n(step.flops),
                human(step.flops, "FLOPs"),
                _n(step.training_flops),
                human(step.training_flops, "FLOPs"),
            ]
            for scope, step in (
                ("one step (all layers)", cost.step),
                (f"one sequence of {wl.seq_len} steps", cost.per_sequence),
                (f"batch ({_n(cost.steps)} steps)", cost.total),
            )
        ],
        ["scope", "MACs", "FLOPs", "", "training FLOPs", ""],
        numeric=5,
    )
    parts = [f"{title}: {_n(cost.params)} parameters", per_step]
    if cost.heads:
        heads = _table(
            [
                [
                    head.layer,
                    f"{head.units} × {head.input_size}",
                    _n(head.per_sample),
                    _n(head.step.macs),
                    _n(head.step.bias_adds),
                    _n(head.step.activations),
                    _n(head.step.flops),
                ]
                for head in cost.heads
            ],
            ["dense head", "units × in", "runs per sample", "MACs", "bias adds", "activations", "FLOPs"],
            numeric=5,
        )
        parts.append(heads)
    return "\n\n".join([*parts, totals, _memory_table(cost, dtype, optimizer)])


def _memory_table(cost: FrameworkCost, dtype: DType, optimizer: Optimizer) -> str:
    memory = cost.memory
    assert memory is not None
    size = DTYPE_BYTES[dtype]
    rows: list[list[str]] = [
        ["parameters", d.value, _n(memory.param_bytes(d)), human(memory.param_bytes(d), "B")] for d in DType
    ]

    def row(kind: str, item: str, nbytes: int) -> None:
        rows.append([kind, item, _n(nbytes), human(nbytes, "B")])

    for name, count in memory.inference:
        row("inference", name.replace("_", " "), count * size)
    row("inference", f"total with parameters ({dtype.value})", memory.inference_bytes(dtype))
    for name, count in memory.training:
        row("training", name.replace("_", " "), count * size)
    row("training", "parameter gradients", memory.param_bytes(dtype))
    if optimizer is not Optimizer.NONE:
        row("training", f"optimizer state ({optimizer.value})", memory.optimizer_bytes(dtype, optimizer))
    row("training", "total with parameters", memory.training_bytes(dtype, optimizer))
    onednn_total = memory.onednn_training_bytes(dtype, optimizer)
    if onednn_total is not None:
        kind = "oneDNN"
        for name, count in memory.onednn:
            row(kind, name.replace("_", " "), count * size)
        row(kind, "total with parameters, gradients, optimizer", onednn_total)
    table = _table(rows, ["memory", f"item (activations in {dtype.value})", "bytes", ""], numeric=2)
    if onednn_total is None:
        return table
    note = (
        "training: what PyTorch's own kernels save for backward (oneDNN off, e.g. "
        "torch.backends.mkldnn.flags(enabled=False)). oneDNN: what PyTorch's default CPU path saves "
        "instead for LSTM without projection (other cells unchanged), its workspace estimated from "
        "oneDNN's buffer layout."
    )
    return table + "\n\n" + _wrap(note)


# --- solve -----------------------------------------------------------------------------------


def render_solution(solution: Solution, fmt: CostFormat) -> str:
    if fmt is CostFormat.JSON:
        return to_json(solution.to_dict())
    spec = solution.spec
    head = f"{describe_hidden_h(spec)}; {frameworks.get(solution.framework).title}"
    first = spec.layers[0] if isinstance(spec, Model) else spec
    if any(b.metric is not Metric.PARAMS for b in solution.bounds):
        head += "\n" + describe_workload(workload(first, solution.lengths)) + f"; {solution.dtype.value}"
    rows = []
    for b in solution.bounds:
        unit = _metric_unit(solution, b.metric)
        if b.hidden is None:
            rows.append(
                [BUDGET_FLAGS[b.metric], _n(b.budget), "none", f"H={b.smallest}: {_n(b.at_smallest)}", ""]
            )
            continue
        assert b.at_hidden is not None
        rows.append(
            [
                BUDGET_FLAGS[b.metric] + unit,
                _n(b.budget),
                str(b.hidden),
                _n(b.at_hidden),
                _n(b.at_next),
            ]
        )
    table = _table(rows, ["budget", "limit", "largest H", "value at H", "value at H+1"], numeric=4)
    if solution.hidden is None:
        answer = "No hidden size fits every budget."
    else:
        answer = f"Largest hidden size within all budgets: {solution.hidden}"
    return "\n\n".join([head, table, answer])


#: What each metric counts, in the line saying why nothing fits.
_METRIC_WORDS = {Metric.PARAMS: "parameters", Metric.FLOPS: "FLOPs", Metric.MEMORY: "bytes"}


def why_nothing_fits(solution: Solution) -> str | None:
    """One line saying which budgets even the smallest hidden size exceeds, by how much, and how
    much of that does not grow with H (an embedding, a head's bias); None when a size fits."""
    if solution.hidden is not None:
        return None
    reasons = []
    for b in solution.bounds:
        if b.hidden is not None:
            continue
        reason = (
            f"{BUDGET_FLAGS[b.metric]} {_n(b.budget)}: H={b.smallest} already needs "
            f"{_n(b.at_smallest)} {_METRIC_WORDS[b.metric]}, {_n(b.at_smallest - b.budget)} over"
        )
        fixed = b.quadratic.c  # the part of the metric that does not grow with H
        if fixed > 0 and fixed.denominator == 1:
            alone = ": over the budget by themselves" if fixed > b.budget else ""
            reason += f" ({_n(int(fixed))} of them do not depend on H{alone})"
        reasons.append(reason)
    return "no hidden size fits: " + "; ".join(reasons)


def describe_hidden_h(spec: Spec | Model) -> str:
    """The spec or model described with its hidden size(s) written as H."""
    if isinstance(spec, Model):
        text = describe_model(spec)
        for layer in spec.layers:
            text = text.replace(f"{layer.cell.value} {layer.hidden_size}", f"{layer.cell.value} H")
        return text
    return describe_spec(spec).replace(f"hidden {spec.hidden_size}", "hidden H")


def _metric_unit(solution: Solution, metric: Metric) -> str:
    if metric is Metric.MEMORY:
        kind = solution.memory_kind.value
        if solution.memory_kind.value == "training" and solution.optimizer is not Optimizer.NONE:
            kind += f", optimizer {solution.optimizer.value}"
        return f" (bytes, {kind}, {solution.dtype.value})"
    if metric is Metric.FLOPS:
        return " (FLOPs, batch total)"
    return ""


# --- sweep -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepRow:
    """One grid point: a spec and its framework's cost, or why the framework cannot build it."""

    spec: Spec | Model
    cost: FrameworkCost
    dtype: DType
    optimizer: Optimizer = Optimizer.NONE

    def to_dict(self) -> dict[str, Any]:
        c = self.cost
        layers = self.spec.layers if isinstance(self.spec, Model) else (self.spec,)
        base: dict[str, Any] = {
            "cell": "+".join(dict.fromkeys(layer.cell.value for layer in layers)),
            "hidden_size": layers[0].hidden_size,
        }
        if not c.supported or c.memory is None:
            return {**base, "supported": False, "reason": c.reason}
        return {
            **base,
            "supported": True,
            "params": c.params,
            "macs_per_step": c.step.macs,
            "flops_per_step": c.step.flops,
            "flops_total": c.total.flops,
            "training_flops_total": c.total.training_flops,
            "param_bytes": c.memory.param_bytes(self.dtype),
            "inference_bytes": c.memory.inference_bytes(self.dtype),
            "training_bytes": c.memory.training_bytes(self.dtype, self.optimizer),
        }


SWEEP_COLUMNS = (
    "cell",
    "hidden_size",
    "params",
    "macs_per_step",
    "flops_per_step",
    "flops_total",
    "training_flops_total",
    "param_bytes",
    "inference_bytes",
    "training_bytes",
)


def render_sweeps(tables: list[tuple[str, list[SweepRow]]], fmt: SweepFormat) -> str:
    """One sweep per model (or one for flags): JSON documents in a list when several, CSV rows
    under one header (with a ``model`` column when several), tables one after another."""
    if len(tables) == 1:
        head, rows = tables[0]
        return render_sweep(rows, fmt, head)
    if fmt is SweepFormat.JSON:
        return to_json([sweep_document(rows) for _, rows in tables])
    if fmt is SweepFormat.CSV:
        lines: list[str] = []
        for index, (head, rows) in enumerate(tables):
            body = render_sweep(rows, fmt, head).splitlines()
            if not lines:
                lines.append("model," + body[0])
            lines += [f"{index}," + line for line in body[1:]]
        return "\n".join(lines)
    return "\n\n".join(render_sweep(rows, fmt, head) for head, rows in tables)


def sweep_document(rows: list[SweepRow]) -> dict[str, Any]:
    optimizer = rows[0].optimizer.value if rows else Optimizer.NONE.value
    docs = [row.to_dict() for row in rows]
    return {"schema_version": 1, "convention": CONVENTION, "optimizer": optimizer, "rows": docs}


def render_sweep(rows: list[SweepRow], fmt: SweepFormat, head: str) -> str:
    docs = [row.to_dict() for row in rows]
    if fmt is SweepFormat.JSON:
        return to_json(sweep_document(rows))
    if fmt is SweepFormat.CSV:
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=[*SWEEP_COLUMNS, "reason"], lineterminator="\n")
        writer.writeheader()
        for doc in docs:
            writer.writerow({key: doc.get(key, "") for key in [*SWEEP_COLUMNS, "reason"]})
        return buffer.getvalue().rstrip("\n")
    table_rows = []
    for doc in docs:
        if not doc["supported"]:
            table_rows.append([doc["cell"], str(doc["hidden_size"]), "n/a", "", "", "", "", ""])
            continue
        table_rows.append(
            [
                doc["cell"],
                str(doc["hidden_size"]),
                _n(doc["params"]),
                _n(doc["macs_per_step"]),
                _n(doc["flops_total"]),
                human(doc["param_bytes"], "B"),
                human(doc["inference_bytes"], "B"),
                human(doc["training_bytes"], "B"),
            ]
        )
    table = _table(
        table_rows,
        ["cell", "hidden", "params", "MACs/step", "FLOPs total", "param bytes", "inference", "training"],
        numeric=7,
    )
    reasons = sorted({doc["reason"] for doc in docs if not doc["supported"]})
    notes = [_wrap(f"n/a: {reason}") for reason in reasons]
    return "\n\n".join([head, table, *notes])
