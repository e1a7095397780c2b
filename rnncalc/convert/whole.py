"""A whole model read from a file for ``rnncalc convert``: the chain ``rnncalc inspect`` finds
(embedding, recurrent blocks, layer norms, dropout, dense layers), or the parts ``--part``
names, or the architecture a ``--model`` config states, with the file's tensor of every row of
the source convention's :meth:`~rnncalc.core.convention.Convention.model_report`.

What the file does not record is assumed and said (:attr:`Whole.notes`, and the short
:attr:`Whole.assumptions` the verdict line names): a dense head after the last recurrent block
acts on the last step, with no activation; a layer norm's epsilon is PyTorch's; an RNN's
nonlinearity is tanh. ``--model`` states them instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from rnncalc.core.errors import ConversionError, SpecError
from rnncalc.core.model import Dense, Embedding, LayerNorm, Model, Part
from rnncalc.core.parts import PartKind
from rnncalc.core.spec import Cell, Spec
from rnncalc.inspect.chain import find_chains, handed_on, leaf

if TYPE_CHECKING:
    from rnncalc.core.report import WeightRow
    from rnncalc.frameworks.contract import FrameworkConvention
    from rnncalc.frameworks.inspection import Inspection, RecurrentLayer
    from rnncalc.inspect.chain import Chain, ChainPart
    from rnncalc.io.tensor_data import TensorFormat


@dataclass(frozen=True)
class Whole:
    """The model to convert, the file's tensor names in the order of the source convention's
    ``model_report(model)`` rows, and what was assumed (long notes; short labels)."""

    model: Model
    names: tuple[str, ...]
    notes: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()
    #: Names the file's graph uses transposed (:attr:`~rnncalc.convert.plan.Source.transposed`).
    transposed: tuple[str, ...] = ()


def whole_model(
    inspection: Inspection,
    convention: FrameworkConvention,
    found: TensorFormat,
    part: Sequence[str] = (),
    stated: Model | None = None,
) -> Whole:
    """The model in ``inspection`` to convert: the parts ``part`` names, in order (``--part``),
    else the file's one chain; its architecture from ``stated`` (``--model``) where given."""
    chains, unplaced = find_chains(inspection)
    if part:
        chosen = _named(inspection.file, chains, part)
    else:
        if len(chains) != 1 or unplaced:
            raise ConversionError(f"{inspection.file}: {_not_one_chain(chains, unplaced)}")
        chosen = list(chains[0].parts)
    joined = _stacked(inspection, chosen)
    blocks = sum(isinstance(p.part, Spec) for p in chosen)
    if stated is None or len(stated.layers) != blocks:  # --model may keep alike blocks apart
        chosen = joined
    parts = _linked(inspection.file, chosen)
    model, notes, assumptions = _resolved(inspection, chosen, parts)
    if stated is not None:
        model, notes, assumptions = _stated(inspection.file, model, stated)
    rows = [part_rows for held, _, part_rows in convention.model_rows(model) if not _weightless(held)]
    weighted = [chain_part for chain_part in chosen if not _weightless(chain_part.part)]
    names: list[str] = []
    transposed: list[str] = []
    for part_rows, chain_part in zip(rows, weighted, strict=True):
        layers = _layers(inspection, chain_part)
        if layers:
            names += _block_names(inspection.file, layers, found, part_rows)
        else:
            turned = tuple(inspection.recorded.get(chain_part.name, {}).get("transposed", ()))
            names += _part_names(inspection.file, chain_part, part_rows, turned)
            transposed += [name for name in turned if name in names]
    if stated is None:
        notes += tuple(note for p in chosen for layer in _layers(inspection, p) for note in layer.notes)
    return Whole(
        model,
        tuple(names),
        tuple(dict.fromkeys(notes)),
        tuple(dict.fromkeys(assumptions)),
        tuple(transposed),
    )


def _not_one_chain(chains: Sequence[Chain], unplaced: Sequence[str]) -> str:
    """Why a file without ``--part`` is refused, listing its parts."""
    listed = "; ".join(
        f"{chain.name or f'chain {index + 1}'}: " + ", ".join(p.name for p in chain.parts)
        for index, chain in enumerate(chains)
    )
    if not chains:
        return "no chain of parts rnncalc converts (" + "; ".join(unplaced) + ")"
    if unplaced:
        return (
            "; ".join(unplaced)
            + f". Convert a chain with --part (its parts, in order, comma-separated): {listed}"
        )
    return (
        f"holds {len(chains)} chains; convert one with --part (its parts, in order, "
        f"comma-separated): {listed}"
    )


def _named(file: str, chains: Sequence[Chain], names: Sequence[str]) -> list[ChainPart]:
    """The chain parts ``names`` names, in that order (a chain's name stands for its parts)."""
    by_name = {p.name: p for chain in chains for p in chain.parts}
    whole = {chain.name: chain.parts for chain in chains if chain.name}
    chosen: list[ChainPart] = []
    for name in names:
        if name in by_name:
            chosen.append(by_name[name])
        elif name in whole:
            chosen += whole[name]
        else:
            known = ", ".join([*whole, *by_name])
            raise SpecError("--part", f"{file} has no part {name!r}; its parts: {known}")
    if len({id(p) for p in chosen}) != len(chosen):
        raise SpecError("--part", "names a part twice")
    return chosen


def _linked(file: str, chosen: Sequence[ChainPart]) -> list[Part]:
    """The parts chosen as one chain: it starts with an embedding or a recurrent block (which
    keeps its input size), and each next part takes the features the previous one hands on."""
    parts: list[Part] = []
    size: int | None = None
    for index, found in enumerate(chosen):
        part = found.part
        takes = (part.input_size or found.size) if isinstance(part, Spec) else found.size
        if not index and not isinstance(part, Spec | Embedding):
            raise SpecError("--part", f"{found.name}: a chain starts with an embedding or a recurrent block")
        if index and isinstance(part, Embedding):
            raise SpecError("--part", f"{found.name} is an embedding: it can only come first")
        if index and takes is not None and takes != size:
            raise SpecError(
                "--part", f"{found.name} takes {takes} features; {chosen[index - 1].name} hands on {size}"
            )
        if isinstance(part, Spec):
            if not index and takes is None:
                raise ConversionError(f"{file}: {found.name}: its input size is not known")
            part = part.replace(input_size=None if index else takes)
        parts.append(part)
        size = handed_on(part, size if index else takes)
    if not any(isinstance(p, Spec) for p in parts):
        raise SpecError("--part", "the parts named hold no recurrent block")
    return parts


def _resolved(
    inspection: Inspection, chosen: Sequence[ChainPart], parts: list[Part]
) -> tuple[Model, tuple[str, ...], tuple[str, ...]]:
    """The model of ``parts`` (:func:`settled`), and notes and short assumptions on what the
    file does not record: a dense layer's activation, a layer norm's epsilon, an RNN's
    nonlinearity."""
    notes: list[str] = []
    assumptions: list[str] = []
    for found, part in zip(chosen, parts, strict=True):
        recorded = inspection.recorded.get(found.name, {})
        if isinstance(part, Dense) and part.activation is None:  # not recorded, or not one rnncalc knows
            notes.append(
                f"{found.name}: the file does not record an activation: none is assumed "
                "(activation: in --model)"
            )
            assumptions.append(f"no activation after {found.name}")
        elif isinstance(part, LayerNorm) and recorded.get("kind") != "layer_norm":
            notes.append(
                f"{found.name}: the file does not record the layer norm's epsilon: "
                f"{part.epsilon:g} is assumed (epsilon: in --model)"
            )
            assumptions.append(f"epsilon {part.epsilon:g}")
        elif isinstance(part, Spec):
            layers = _layers(inspection, found)
            if part.cell is Cell.RNN and any("nonlinearity" in n for layer in layers for n in layer.notes):
                assumptions.append(part.nonlinearity.value)
    names = [found.name for found in chosen]
    model, settled_notes, settled_assumptions = settled(Model(parts=tuple(parts)), names)
    return model, (*settled_notes, *notes), (*settled_assumptions, *assumptions)


def settled(model: Model, names: Sequence[str]) -> tuple[Model, tuple[str, ...], tuple[str, ...]]:
    """``model`` as every framework builds it alike: a head after the last recurrent block
    without ``per_step`` acts on the last step (said in a note and a short assumption, naming
    the part by ``names``); without such a head the model returns every step, as nn.LSTM does
    (Keras ``return_sequences``); batch-major."""
    parts = list(model.parts)
    notes: list[str] = []
    assumptions: list[str] = []
    last = model.last_block
    for index, part in enumerate(parts[last + 1 :], start=last + 1):
        if isinstance(part, Dense) and part.per_step is None:
            parts[index] = replace(part, per_step=False)
            notes.append(
                f"{names[index]}: the file does not record whether this dense layer acts on every "
                "step or on the last one: the last step is assumed (per_step: in --model)"
            )
            assumptions.append(f"{names[index]} on the last step")
    sequences = not any(isinstance(p, Dense) and p.per_step is False for p in parts[last + 1 :])
    shaped = tuple(
        p.replace(batch_first=True, return_sequences=sequences) if isinstance(p, Spec) else p for p in parts
    )
    return Model(parts=shaped, batch_first=True, return_sequences=sequences), tuple(notes), tuple(assumptions)


def _stated(file: str, found: Model, stated: Model) -> tuple[Model, tuple[str, ...], tuple[str, ...]]:
    """``stated`` (a ``--model`` config) for the parts found: the same kinds of weighted parts
    in the same order (the weights' shapes check the sizes); the first block's input size from
    the file where the config leaves it out."""

    def kinds(model: Model) -> list[str]:
        return [
            "recurrent" if isinstance(p, Spec) else p.kind.value for p in model.parts if not _weightless(p)
        ]

    if kinds(stated) != kinds(found):
        shown = " → ".join(kinds(found))
        raise SpecError("--model", f"describes other parts than {file} holds ({shown})")
    first = stated.parts[0]
    if isinstance(first, Spec) and first.input_size is None:
        first = first.replace(input_size=found.input_size)
        stated = Model(parts=(first, *stated.parts[1:]), batch_first=stated.batch_first,
                       return_sequences=stated.return_sequences)  # fmt: skip
    names = [f"part {index}" for index in range(len(stated.parts))]
    return settled(stated, names)


def _weightless(part: Part) -> bool:
    return not isinstance(part, Spec) and part.kind is PartKind.DROPOUT


def _layers(inspection: Inspection, found: ChainPart) -> tuple[RecurrentLayer, ...]:
    """The recurrent layers inspect found among a chain part's tensors, in order (none for a
    part other than a recurrent block)."""
    names = {tensor.name for tensor in found.tensors}
    return tuple(layer for layer in inspection.recurrent if {t.name for t in layer.tensors} <= names)


def _stacked(inspection: Inspection, chosen: Sequence[ChainPart]) -> list[ChainPart]:
    """``chosen`` with consecutive recurrent layers that form one stack (the same cell, sizes
    and flags, each taking the previous one's output: Keras's and ONNX's one layer per
    operator) joined into one block of ``num_layers`` layers, as nn.LSTM holds them."""
    from rnncalc.convert.plan import stack_spec

    joined: list[ChainPart] = []
    for found in chosen:
        before = joined[-1] if joined else None
        if isinstance(found.part, Spec) and before is not None and isinstance(before.part, Spec):
            layers = (*_layers(inspection, before), *_layers(inspection, found))
            try:
                spec = stack_spec(inspection.file, layers)
            except ConversionError:
                spec = None
            if spec is not None:
                block = before.part.replace(num_layers=spec.num_layers)
                joined[-1] = replace(before, part=block, tensors=(*before.tensors, *found.tensors))
                continue
        joined.append(found)
    return joined


def _block_names(
    file: str, layers: Sequence[RecurrentLayer], found: TensorFormat, rows: Sequence[WeightRow]
) -> list[str]:
    """A recurrent block's tensor names in the order of its report rows (``found.order``),
    refusing what convert cannot move (``found.refuse``, a note that changes the computation)."""
    from rnncalc.convert.plan import layer_names

    names = [name for layer in layers for name in layer_names(file, layer, found)]
    if len(names) != len(rows):
        raise ConversionError(
            f"{file}: {layers[0].prefix}: {len(names)} tensors, the model needs {len(rows)}"
        )
    return names


def _part_names(
    file: str, found: ChainPart, rows: Sequence[WeightRow], transposed: Sequence[str] = ()
) -> list[str]:
    """A part's tensor names in the order of its rows: by name where the file uses the
    framework's (``weight``, ``gamma``), else in the file's order (numbered variables sorted by
    number, an exporter's names as the graph uses them); the ``transposed`` ones (a graph's
    ``Gemm`` with ``transB``) hold their row transposed."""
    tensors = list(found.tensors)
    by_leaf = {leaf(t.name): t for t in tensors}
    if all(row.name in by_leaf for row in rows) and len(by_leaf) == len(rows):
        ordered = [by_leaf[row.name] for row in rows]
    else:
        if all(leaf(t.name).isdigit() for t in tensors):
            tensors.sort(key=lambda t: int(leaf(t.name)))
        ordered = tensors
    held = [t.shape[::-1] if t.name in transposed else t.shape for t in ordered]
    if held != [tuple(row.shape) for row in rows]:
        shapes = ", ".join(f"{t.name} {t.shape}" for t in ordered)
        raise ConversionError(f"{file}: {found.name} ({shapes}) is not the part the model needs there")
    return [tensor.name for tensor in ordered]
