"""Turn an :class:`~rnncalc.core.report.Analysis` into text: table, markdown or JSON.

Knows no framework: titles and framework-specific notes come from the registry's conventions;
tabulate is imported only for the human formats so the JSON path stays as light as click.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

from rnncalc import frameworks
from rnncalc.core.report import Analysis, Difference, FrameworkReport, ModelAnalysis
from rnncalc.core.spec import Spec, describe_spec
from rnncalc.core.symbolic import Count, format_shape
from rnncalc.core.text import printable

if TYPE_CHECKING:  # only annotations: the flat-spec path never imports model.py
    from rnncalc.core.model import Model, Part


class Format(str, Enum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


__all__ = ["Format", "describe_model", "render_analysis", "render_model", "table", "to_json"]


def to_json(document: Any) -> str:
    """Stable JSON: two-space indent, keys in the order the schema documents."""
    import json  # here, not at the top: the table path never needs it

    return json.dumps(document, indent=2)


def render_analysis(analysis: Analysis, fmt: Format) -> str:
    if fmt is Format.JSON:
        return to_json(analysis.to_dict())
    markdown = fmt is Format.MARKDOWN
    parts = [_heading(describe_spec(analysis.spec), markdown, level=2)]
    for report in analysis.frameworks:
        parts.append(_framework_section(report, markdown))
    parts.append(_footer(analysis, markdown))
    return "\n\n".join(parts)


def render_model(analysis: ModelAnalysis, fmt: Format) -> str:
    """A heterogeneous model: the same sections as a spec, one row per weight of every module."""
    if fmt is Format.JSON:
        return to_json(analysis.to_dict())
    markdown = fmt is Format.MARKDOWN
    parts = [_heading(describe_model(analysis.model), markdown, level=2)]
    for report in analysis.frameworks:
        parts.append(_framework_section(report, markdown, kinds=True))
    lines = [_difference_line(difference, analysis.framework) for difference in analysis.differences]
    model = analysis.model
    if model.input_size is None:
        lines.append("Input size unknown: counts are formulas in I; set input_size on the first layer.")
    if model.batch_size is None or model.seq_len is None:
        lines.append("None = dimension unknown; set batch_size and seq_len to fix it.")
    notes = [
        note for report in analysis.frameworks for note in frameworks.get(report.framework).model_notes(model)
    ]
    if notes:
        lines.append("; ".join(notes) + ".")
    if markdown:
        parts.append("\n\n".join(lines))
    else:
        import textwrap

        parts.append("\n".join(textwrap.fill(line, width=80, subsequent_indent="  ") for line in lines))
    return "\n\n".join(parts)


def describe_model(model: Model) -> str:
    """``encoder: embedding 20000×128 → lstm 256 bi → layer_norm → dropout 0.2 → dense 10``."""
    parts = [describe_part(part) for part in model.parts]
    text = " → ".join(parts)
    if model.input_size is not None and model.embedding is None:
        text = f"input {model.input_size} → {text}"
    return f"{printable(model.name)}: {text}" if model.name else text


def describe_part(part: Part) -> str:
    """One link of :func:`describe_model`'s chain."""
    from rnncalc.core.model import Dropout, Embedding, LayerNorm

    if isinstance(part, Spec):
        words = [part.cell.value, str(part.hidden_size)]
        if part.num_layers > 1:
            words.append(f"×{part.num_layers}")
        if part.bidirectional:
            words.append("bi")
        if part.proj_size:
            words.append(f"proj {part.proj_size}")
        return " ".join(words)
    if isinstance(part, Embedding):
        return f"embedding {part.vocab_size}×{part.dim}"
    if isinstance(part, Dropout):
        return f"dropout {part.rate:g}"
    if isinstance(part, LayerNorm):
        return "layer_norm"
    steps = {True: " per step", False: " last step", None: ""}[part.per_step]
    return f"dense {part.units}{steps}"


def _heading(text: str, markdown: bool, level: int = 3) -> str:
    return f"{'#' * level} {text}" if markdown else text


def table(rows: list[list[Any]], headers: list[str], markdown: bool, numeric: int) -> str:
    from tabulate import tabulate

    align = ["left"] * (len(headers) - numeric) + ["right"] * numeric
    return tabulate(
        rows,
        headers=headers,
        tablefmt="github" if markdown else "simple",
        colalign=align,
        disable_numparse=True,
    )


def _framework_section(report: FrameworkReport, markdown: bool, kinds: bool = False) -> str:
    title = f"{frameworks.get(report.framework).title} ({report.model})"
    if not report.supported:
        return _heading(f"{title}: not expressible", markdown) + f"\n{report.reason}"
    title += f": {_params(report.total)} parameters"
    return "\n".join(
        [
            _heading(title, markdown),
            _weights_table(report, markdown, kinds),
            "",
            _outputs_table(report, markdown),
        ]
    )


def _weights_table(report: FrameworkReport, markdown: bool, kinds: bool = False) -> str:
    """A row per weight, a subtotal per direction of a bidirectional layer, a total per layer.

    ``kinds`` labels each layer with its type too (``1 LSTM``), for models of mixed modules.
    """
    rows: list[list[Any]] = []
    for layer in report.layers:
        directions = list(dict.fromkeys(weight.direction for weight in layer.weights))
        layer_label = f"{layer.name} {layer.kind}" if kinds else layer.name
        if not layer.weights:  # a dropout: in the chain, with nothing to count
            rows.append([layer_label, "", "(no weights)", "", _params(layer.params)])
            continue
        for direction in directions:
            part_label = direction
            for weight in (w for w in layer.weights if w.direction == direction):
                shape = format_shape(weight.shape)
                rows.append([layer_label, part_label, weight.name, shape, _params(weight.params)])
                layer_label = part_label = ""
            if len(directions) > 1:
                rows.append(
                    ["", "", f"({direction} subtotal)", "", _params(layer.direction_params(direction))]
                )
        rows.append(["", "", f"({layer.name} total)", "", _params(layer.params)])
    rows.append(["total", "", "", "", _params(report.total)])
    return table(rows, ["layer", "part", "weight", "shape", "params"], markdown, numeric=1)


def _outputs_table(report: FrameworkReport, markdown: bool) -> str:
    rows = [[name, format_shape(shape)] for name, shape in report.outputs]
    return table(rows, ["returns", "shape"], markdown, numeric=0)


def _footer(analysis: Analysis, markdown: bool) -> str:
    lines = [_difference_line(difference, analysis.framework) for difference in analysis.differences]
    spec = analysis.spec
    if analysis.defaults_used:
        defaults = ", ".join(f"{name}={_value(getattr(spec, name))}" for name in analysis.defaults_used)
        lines.append(f"Defaults used: {defaults}.")
    if spec.input_size is None:
        lines.append("Input size unknown: counts are formulas in I; pass --input N for plain numbers.")
    if spec.step and spec.batch_size is None and not spec.unbatched:
        lines.append("None = dimension unknown; pass --batch to fix it.")
    elif not spec.step and (spec.batch_size is None or spec.seq_len is None):
        lines.append("None = dimension unknown; pass --batch and --seq-len to fix it.")
    if markdown:
        return "\n\n".join(lines)
    import textwrap

    return "\n".join(textwrap.fill(line, width=80, subsequent_indent="  ") for line in lines)


def _difference_line(difference: Difference, report: Callable[[str], FrameworkReport]) -> str:
    """``PyTorch 240 vs Keras 224: <why>.``"""
    first, second = frameworks.get(difference.first), frameworks.get(difference.second)
    first_total, second_total = report(first.name).total, report(second.name).total
    return (
        f"{first.short_title} {_params(first_total)} vs {second.short_title} {_params(second_total)}: "
        f"{difference.reason}."
    )


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def _params(count: Count) -> str:
    return str(count)
