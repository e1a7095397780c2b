"""Text and JSON for ``rnncalc check``: expectations, then analytic-vs-real tables."""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import Enum

from rnncalc import frameworks
from rnncalc.check.crosscheck import CrossCheck, format_value
from rnncalc.check.model import (
    CheckReport,
    FrameworkResult,
    ItemKind,
    ItemResult,
    Status,
    TargetResult,
    worst,
)
from rnncalc.core.spec import describe_spec
from rnncalc.core.text import printable
from rnncalc.summary.render import describe_model, table, to_json


class CheckFormat(str, Enum):
    TABLE = "table"
    JSON = "json"
    #: One line per model (the default for config files).
    LINES = "lines"
    #: One JSON object per model or bad input, written as each is checked.
    JSONL = "jsonl"
    #: GitHub Actions workflow commands (``::error file=...,line=...::``) for failures.
    GITHUB = "github"


def render_check(report: CheckReport, fmt: CheckFormat) -> str:
    """Per model: the expectations, then a side-by-side table (item | analytic | real | mark)
    for each framework that was cross-checked."""
    if fmt is CheckFormat.JSON:
        return to_json(report.to_dict())
    if fmt is CheckFormat.LINES:
        return "\n".join(render_line(result, report.require) for result in report.results)
    if fmt is CheckFormat.JSONL:
        return "\n".join(json.dumps(result.to_dict(report.require)) for result in report.results)
    if fmt is CheckFormat.GITHUB:
        return "\n".join(
            line
            for result in report.results
            for line in github_annotations(result, report.require, None, None)
        )
    return "\n\n".join(_check_section(result) for result in report.results)


def _check_section(result: TargetResult) -> str:
    target = result.target
    described = describe_model(target.model) if target.model is not None else describe_spec(target.spec)
    title = target.name if target.name == described else f"{target.name}: {described}"
    if target.source:
        title += f" ({target.source})"
    parts = [printable(title)]
    for framework in result.frameworks:
        parts.append(_check_framework(framework))
    return "\n\n".join(parts)


def _check_framework(result: FrameworkResult) -> str:
    title = f"{frameworks.get(result.framework).title} ({result.model})"
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
    steps = "one step of the cell" if check.seq_len is None else f"{check.seq_len} time steps"
    return f"one forward pass on zeros, {batch}, {steps}"


def _expected(item: ItemResult) -> str:
    text = format_value(item.expected)
    return f"<= {text}" if item.kind is ItemKind.MAX_PARAMS else text


def _mark(status: Status) -> str:
    return "ok" if status is Status.OK else status.value.upper()


# --- Per-model forms for many models: lines, JSONL, GitHub annotations ----------------------


def status_word(result: TargetResult, require: bool) -> str:
    """``ok``, or the worst failing status (``mismatch``, ``over budget``, ``skipped``)."""
    if not result.failed(require):
        return "ok"
    statuses = [s for fw in result.frameworks for s in _failing_statuses(fw, require)]
    return worst(statuses).value if statuses else result.status.value


def _failing_statuses(result: FrameworkResult, require: bool) -> list[Status]:
    statuses = [item.status for item in result.items if item.status.failing]
    if result.cross_status is Status.MISMATCH or (require and result.cross_status is Status.SKIPPED):
        statuses.append(result.cross_status)
    return statuses


def _label(result: TargetResult) -> str:
    target = result.target
    return printable(
        f"{target.name} ({target.source})" if target.source and target.source != target.name else target.name
    )


def render_line(result: TargetResult, require: bool) -> str:
    """``ok           encoder (models/encoder.yaml:2): torch 3,598,346; keras 3,596,298``.

    A failing model lists its failures (with the numbers) instead of the totals.
    """
    word = status_word(result, require)
    if word == "ok":
        totals = [
            f"{fw.framework} {fw.params:,}" if fw.params is not None else f"{fw.framework} -"
            for fw in result.frameworks
        ]
        detail = "; ".join(totals)
        crossed = [fw.framework for fw in result.frameworks if fw.cross_status is Status.OK]
        if crossed:
            detail += f" (real {', '.join(crossed)} agree)"
    else:
        detail = "; ".join(result.failures(require))
    return f"{word:<12} {_label(result)}: {detail}"


def render_error_line(where: str, text: str) -> str:
    """A bad input (one line of JSONL, a file that does not parse) in the lines format."""
    return f"{'error':<12} {printable(where)}: {printable(text)}"


def github_annotations(
    result: TargetResult,
    require: bool,
    file: str | None,
    line: int | None,
    expect_lines: Mapping[str, int] | None = None,
) -> list[str]:
    """One ``::error`` workflow command per failure, on the line of that framework's
    ``expect:`` entry when the file has one (so it shows on the diff), else the model's line."""
    lines = expect_lines or {}
    return [
        github_command(
            file,
            lines.get(fw.framework, line),
            f"{result.target.name}: {fw.framework}: {text}",
        )
        for fw in result.frameworks
        for text in fw.failures(require)
    ]


def github_command(file: str | None, line: int | None, text: str) -> str:
    """``::error file=F,line=L::message`` with GitHub's escaping of properties and data."""
    properties = []
    if file:
        properties.append(f"file={_escape_property(printable(file))}")
    if line is not None:
        properties.append(f"line={line}")
    head = "::error " + ",".join(properties) if properties else "::error"
    return f"{head}::{_escape_data(printable(text))}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
