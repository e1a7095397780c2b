"""Text and JSON for ``rnncalc check``: expectations, then analytic-vs-real tables."""

from __future__ import annotations

from enum import Enum

from rnncalc.checking import CheckReport, FrameworkResult, ItemKind, ItemResult, Status, TargetResult
from rnncalc.crosscheck import CrossCheck, format_value
from rnncalc.render import FRAMEWORK_TITLES, describe_spec, table, to_json


class CheckFormat(str, Enum):
    TABLE = "table"
    JSON = "json"


def render_check(report: CheckReport, fmt: CheckFormat) -> str:
    """Per model: the expectations, then a side-by-side table (item | analytic | real | mark)
    for each framework that was cross-checked."""
    if fmt is CheckFormat.JSON:
        return to_json(report.to_dict())
    return "\n\n".join(_check_section(result) for result in report.results)


def _check_section(result: TargetResult) -> str:
    target = result.target
    title = (
        target.name
        if target.name == describe_spec(target.spec)
        else f"{target.name}: {describe_spec(target.spec)}"
    )
    if target.source:
        title += f" ({target.source})"
    parts = [title]
    for framework in result.frameworks:
        parts.append(_check_framework(framework))
    return "\n\n".join(parts)


def _check_framework(result: FrameworkResult) -> str:
    title = f"{FRAMEWORK_TITLES[result.framework]} ({result.model})"
    if not result.checked:
        return f"{title}: not checked"
    lines = [f"{title}: {result.status.value}"]
    if result.items:
        rows = [
            [item.item, _expected(item), format_value(item.actual), _mark(item.status)]
            for item in result.items
        ]
        lines.append(table(rows, ["expectation", "expected", "analytic", "mark"], False, numeric=0))
    if result.cross_status is None:
        lines.append("real model: not checked")
    elif result.crosscheck is None:
        lines.append(f"real model: {result.cross_status.value}: {result.cross_reason}")
    else:
        if result.cross_reason:
            lines.append(f"real model: {result.cross_reason}")
        lines.append(f"real model: {_probe_line(result.crosscheck)}")
        rows = [
            [row.item, format_value(row.analytic), format_value(row.real), "ok" if row.ok else "DIFFERS"]
            for row in result.crosscheck.rows
        ]
        lines.append(table(rows, ["item", "analytic", "real", "mark"], False, numeric=0))
    return "\n".join(lines)


def _probe_line(check: CrossCheck) -> str:
    batch = "unbatched" if check.batch_size is None else f"batch {check.batch_size}"
    return f"one forward pass on zeros, {batch}, {check.seq_len} time steps"


def _expected(item: ItemResult) -> str:
    text = format_value(item.expected)
    return f"<= {text}" if item.kind is ItemKind.MAX_PARAMS else text


def _mark(status: Status) -> str:
    return "ok" if status is Status.OK else status.value.upper()
