"""Turn :class:`~rnncalc.frameworks.inspection.Inspection` results into text: table, markdown or JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from rnncalc.core.errors import SpecError
from rnncalc.core.model import Dense, LayerNorm, Part
from rnncalc.core.spec import Cell, Nonlinearity, Spec, describe_spec
from rnncalc.frameworks.inspection import Inspection
from rnncalc.inspect.chain import Chain, document, whole_dict
from rnncalc.inspect.formats import format_title
from rnncalc.io.tensors import WeightFileError
from rnncalc.summary.render import Format, describe_model, describe_part, table, to_json

#: Formats that write the inspected models as a config file (``rnncalc summary`` reads it).
CONFIG_FORMATS: tuple[str, ...] = ("yaml", "toml")


def render_config(inspections: Sequence[Inspection], kind: str) -> str:
    """Every chain of every file as a config file (``models:``, each with its ``source:``);
    a file without a chain is an error naming it."""
    models = []
    for inspection in inspections:
        found = whole_dict(inspection)["models"]
        if not found:
            raise WeightFileError(
                inspection.file, "holds no recurrent layer: there is no model to write as a config file"
            )
        models += found
    document = {"models": models}
    if kind == "toml":
        from rnncalc.io.toml_write import toml_dumps

        return toml_dumps(document)
    import yaml

    return str(
        yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=None, width=100)
    ).rstrip("\n")


def render_inspections(inspections: Sequence[Inspection], fmt: Format) -> str:
    """One document for all files: a JSON object (a list for several files) or text sections."""
    if fmt is Format.JSON:
        documents = [document(inspection) for inspection in inspections]
        return to_json(documents[0] if len(documents) == 1 else documents)
    return "\n\n".join(render_inspection(inspection, fmt is Format.MARKDOWN) for inspection in inspections)


def render_inspection(inspection: Inspection, markdown: bool) -> str:
    """Heading, the whole model's chains with every convention's count (else the recurrent
    layers), the tensors no chain takes, notes."""
    from rnncalc.inspect.chain import find_chains

    kind = format_title(inspection.format)
    source = " (weights derived from the config)" if inspection.from_config else ""
    heading = (
        f"{inspection.file}: {kind}, {inspection.total_params:,} parameters "
        f"in {len(inspection.tensors)} tensors{source}"
    )
    parts = [f"## {heading}" if markdown else heading]
    chains, unplaced = find_chains(inspection) if inspection.recurrent else ((), ())
    if chains:
        parts += [_chain_section(chain, inspection, markdown) for chain in chains]
    if inspection.recurrent and not chains:
        parts.append(_recurrent_table(inspection, markdown))
    if inspection.recurrent:
        reasons = _reasons(inspection, alone=not chains)
        if reasons:
            parts.append("\n".join(f"- {line}" if markdown else line for line in reasons))
    else:
        parts.append("No recurrent layer found.")
    taken = {tensor.name for chain in chains for tensor in chain.tensors} or set(inspection.owner())
    others = [tensor for tensor in inspection.tensors if tensor.name not in taken]
    if others:
        count = sum(tensor.numel for tensor in others)
        title = f"Other tensors: {count:,} parameters"
        rows = [[t.name, "×".join(map(str, t.shape)) or "scalar", t.dtype, f"{t.numel:,}"] for t in others]
        headers = ["tensor", "shape", "dtype", "params"]
        if inspection.layer_of:
            rows = [[inspection.layer_of.get(t.name, ""), *row] for t, row in zip(others, rows, strict=True)]
            headers = ["layer", *headers]
        parts.append(
            (f"### {title}" if markdown else title) + "\n" + table(rows, headers, markdown, numeric=1)
        )
    notes = (*unplaced, *inspection.notes)
    if notes:
        parts.append("\n".join(f"{'- ' if markdown else ''}Note: {note}" for note in notes))
    return "\n\n".join(parts)


def _chain_section(chain: Chain, inspection: Inspection, markdown: bool) -> str:
    """One chain: its parts in order with every convention's count, the totals, why they
    differ, and what is assumed."""
    names = list(chain.totals)
    counted = "params" if inspection.from_config else "params in file"
    headers = ["part", "kind", counted, *(f"as {_title(name)}" for name in names)]
    rows = []
    for part in chain.parts:
        shown = [part.counts[name] for name in names]
        rows.append(
            [
                part.name or "(top level)",
                part_words(part.part, part.size),
                f"{sum(t.numel for t in part.tensors):,}",
                *(f"{count:,}" if isinstance(count, int) else "—" for count in shown),
            ]
        )
    rows.append(
        [
            "total",
            "",
            f"{chain.params:,}",
            *(f"{chain.totals[name]:,}" if chain.totals[name] is not None else "—" for name in names),
        ]
    )
    label = f"Model {chain.name} ({chain.prefix}*)" if chain.prefix else "Model"
    title = f"{label}: {describe_model(replace(chain.model, name=None))}"
    said = {layer.conventions[name]["reason"] for layer in inspection.recurrent for name in names}
    lines = [
        *(
            f"not expressible in {_title(name)}: {reason}."
            for name, reason in chain.reasons.items()
            if not any(text and text in reason for text in said)
        ),
        *(f"{difference}." for difference in chain.differences),
        *(f"Assumed: {note}." for note in chain.notes),
    ]
    text = (
        (f"### {title}" if markdown else title)
        + "\n"
        + table(rows, headers, markdown, numeric=1 + len(names))
    )
    if lines:
        text += "\n\n" + "\n".join(f"- {line}" if markdown else line for line in lines)
    return text


def part_words(part: Part, size: int | None) -> str:
    """What a part is, with its sizes: ``lstm, input 8, hidden 16, ...``, ``dense 32 → 5``."""
    if isinstance(part, Spec):
        return spec_words(
            part if part.input_size is not None or size is None else part.replace(input_size=size)
        )
    if isinstance(part, Dense):
        return f"dense {size} → {part.units}" + ("" if part.bias else ", no bias")
    if isinstance(part, LayerNorm):
        return f"layer norm, {size} features"
    return describe_part(part)


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


def _reasons(inspection: Inspection, alone: bool = True) -> list[str]:
    """Why a convention cannot hold a layer at all; ``alone`` (no chain says them): why it
    holds a different count, and the layer's notes."""
    lines = []
    for layer in inspection.recurrent:
        label = layer.prefix or "(top level)"
        for name, convention in layer.conventions.items():
            if convention["reason"]:
                lines.append(f"{label}: not expressible in {_title(name)}: {convention['reason']}.")
        if layer.difference and alone:
            lines.append(f"{label}: {layer.difference}.")
        lines.extend(f"{label}: {note}." for note in layer.notes if alone)
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
