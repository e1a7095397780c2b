"""Turn :class:`~rnncalc.inspect.model.Inspection` results into text: table, markdown or JSON."""

from __future__ import annotations

from collections.abc import Sequence

from rnncalc.core.errors import SpecError
from rnncalc.core.spec import Cell, Nonlinearity, Spec, describe_spec
from rnncalc.inspect.formats import format_title
from rnncalc.inspect.model import Inspection
from rnncalc.summary.render import Format, table, to_json


def render_inspections(inspections: Sequence[Inspection], fmt: Format) -> str:
    """One document for all files: a JSON object (a list for several files) or text sections."""
    if fmt is Format.JSON:
        documents = [inspection.to_dict() for inspection in inspections]
        return to_json(documents[0] if len(documents) == 1 else documents)
    return "\n\n".join(render_inspection(inspection, fmt is Format.MARKDOWN) for inspection in inspections)


def render_inspection(inspection: Inspection, markdown: bool) -> str:
    """Heading, recurrent layers with every convention's count, the other tensors, notes."""
    kind = format_title(inspection.format)
    source = " (weights derived from the config)" if inspection.from_config else ""
    heading = (
        f"{inspection.file}: {kind}, {inspection.total_params:,} parameters "
        f"in {len(inspection.tensors)} tensors{source}"
    )
    parts = [f"## {heading}" if markdown else heading]
    if inspection.recurrent:
        parts.append(_recurrent_table(inspection, markdown))
        reasons = _reasons(inspection)
        if reasons:
            parts.append("\n".join(f"- {line}" if markdown else line for line in reasons))
    else:
        parts.append("No recurrent layer found.")
    owner = inspection.owner()
    others = [tensor for tensor in inspection.tensors if tensor.name not in owner]
    if others:
        title = f"Other tensors: {inspection.other_params:,} parameters"
        rows = [[t.name, "×".join(map(str, t.shape)) or "scalar", t.dtype, f"{t.numel:,}"] for t in others]
        headers = ["tensor", "shape", "dtype", "params"]
        if inspection.layer_of:
            rows = [[inspection.layer_of.get(t.name, ""), *row] for t, row in zip(others, rows, strict=True)]
            headers = ["layer", *headers]
        parts.append(
            (f"### {title}" if markdown else title) + "\n" + table(rows, headers, markdown, numeric=1)
        )
    if inspection.notes:
        parts.append("\n".join(f"{'- ' if markdown else ''}Note: {note}" for note in inspection.notes))
    return "\n\n".join(parts)


def _recurrent_table(inspection: Inspection, markdown: bool) -> str:
    names = list(inspection.recurrent[0].conventions)
    counted = "params" if inspection.from_config else "params in file"
    headers = ["layer", "spec", counted, *(f"as {_title(name)}" for name in names)]
    rows = []
    for layer in inspection.recurrent:
        counts = [layer.conventions[name]["total_params"] for name in names]
        rows.append(
            [
                layer.prefix or "(top level)",
                spec_words(layer.spec),
                f"{layer.params:,}",
                *(f"{count:,}" if isinstance(count, int) else "—" for count in counts),
            ]
        )
    title = "Recurrent layers"
    return (
        (f"### {title}" if markdown else title)
        + "\n"
        + table(rows, headers, markdown, numeric=1 + len(names))
    )


def _reasons(inspection: Inspection) -> list[str]:
    """Why a convention holds a different count, or cannot hold the layer at all."""
    lines = []
    for layer in inspection.recurrent:
        label = layer.prefix or "(top level)"
        for name, convention in layer.conventions.items():
            if convention["reason"]:
                lines.append(f"{label}: not expressible in {_title(name)}: {convention['reason']}.")
        if layer.difference:
            lines.append(f"{label}: {layer.difference}.")
        lines.extend(f"{label}: {note}." for note in layer.notes)
    return lines


def spec_words(spec: Spec) -> str:
    """:func:`~rnncalc.core.spec.describe_spec` plus the variants it leaves to the flags."""
    text = describe_spec(spec)
    if spec.cell is Cell.GRU:
        text += ", reset_after" if spec.reset_after else ", reset_after=False"
    if spec.nonlinearity is Nonlinearity.RELU:
        text += ", relu"
    return text


def _title(name: str) -> str:
    from rnncalc import frameworks

    try:
        return frameworks.get(name).title
    except SpecError:
        return name
