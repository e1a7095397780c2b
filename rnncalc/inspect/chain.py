"""The whole model in an inspected file: its chains of parts (embedding, recurrent blocks, layer
norms, dense layers), each a :class:`~rnncalc.core.model.Model` the config files describe.

The tensors are grouped by the module holding them (the layer a Keras file names, else the
name up to its last dot) and each group is matched against what every registered convention
holds for a part kind (:attr:`~rnncalc.frameworks.contract.FrameworkConvention.part_layouts`):
names and shapes, or shapes in the order of the slots where a file numbers its variables
(``vars/0``, ``vars/1``). The recurrent layers are those the convention's finder found.

Order: the layers of a file's config (Keras), else the file's own order (a PyTorch state dict
keeps registration order). A file whose names are sorted (Flax states, HDF5 groups) records no
order: the chain then follows the shapes, a part that keeps the features before one that
changes them. A chain goes on while the next part takes the features the chain hands on; a
file whose top-level modules each hold a recurrent block (``encoder.``, ``decoder.``) holds one
chain per module. What no chain takes stays "other", named in a note.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rnncalc.core.errors import SpecError
from rnncalc.core.model import Dense, Dropout, Embedding, LayerNorm, Model, Part, model_config
from rnncalc.core.parts import DenseActivation
from rnncalc.core.spec import MergeMode, Spec
from rnncalc.frameworks.inspection import Inspection, RecurrentLayer, module_of
from rnncalc.io.tensors import Tensor

if TYPE_CHECKING:
    from rnncalc.frameworks.contract import FrameworkConvention


def document(inspection: Inspection) -> dict[str, Any]:
    """What ``rnncalc inspect --format json`` prints for one file: its tensors and recurrent
    layers (:meth:`~rnncalc.frameworks.inspection.Inspection.to_dict`) and the whole model."""
    return {**inspection.to_dict(), **whole_dict(inspection)}


def whole_dict(inspection: Inspection) -> dict[str, Any]:
    """The whole model: ``chains`` (parts in order, every convention's counts), the tensors no
    chain takes (``unplaced``, named in ``unplaced_notes``), and ``models``, the chains as a
    config file holds them (each with its ``source``), so the document is a config file too
    (``rnncalc summary`` reads it)."""
    chains, unplaced = find_chains(inspection)
    taken = {tensor.name for chain in chains for tensor in chain.tensors}
    return {
        "chains": [chain.to_dict() for chain in chains],
        "unplaced": [tensor.name for tensor in inspection.tensors if tensor.name not in taken],
        "unplaced_notes": list(unplaced),
        "models": [
            {**chain.to_dict()["model"], "source": source_block(inspection, chain)} for chain in chains
        ],
    }


@dataclass(frozen=True)
class ChainPart:
    """One part found in the file: the module holding it, what it is, its tensors, and its
    count in each convention (None where the convention cannot hold the model)."""

    name: str
    part: Part
    tensors: tuple[Tensor, ...]
    counts: dict[str, int | None]
    #: Features the part takes (None before the first known size).
    size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.part.kind.value if not isinstance(self.part, Spec) else "recurrent",
            "params": sum(tensor.numel for tensor in self.tensors),
            "tensors": [tensor.name for tensor in self.tensors],
            "conventions": self.counts,
        }


@dataclass(frozen=True)
class Chain:
    """One chain of parts: its name and tensor prefix (``encoder.``; empty for the whole file),
    the model it is, every convention's total for that model and why they differ."""

    name: str | None
    prefix: str
    model: Model
    parts: tuple[ChainPart, ...]
    totals: dict[str, int | None]
    reasons: dict[str, str]
    differences: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        return tuple(tensor for part in self.parts for tensor in part.tensors)

    @property
    def params(self) -> int:
        return sum(tensor.numel for tensor in self.tensors)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "prefix": self.prefix,
            "params": self.params,
            "parts": [part.to_dict() for part in self.parts],
            "conventions": self.totals,
            "reasons": self.reasons,
            "differences": list(self.differences),
            "notes": list(self.notes),
            "model": model_config(self.model),
        }


@dataclass(frozen=True)
class _Group:
    """The tensors one module holds, or one recurrent layer found by the convention's finder."""

    name: str
    tensors: tuple[Tensor, ...]
    layer: RecurrentLayer | None = None


def find_chains(inspection: Inspection) -> tuple[tuple[Chain, ...], tuple[str, ...]]:
    """The chains of ``inspection`` and notes on the tensors none of them takes."""
    from rnncalc import frameworks

    conventions = [frameworks.get(inspection.convention)]
    conventions += [c for c in frameworks.CONVENTIONS if c.name != inspection.convention]
    groups, ordered = _groups(inspection)
    pools = _pools(groups)
    chains: list[Chain] = []
    notes: list[str] = []
    for prefix, pool in pools:
        start = len(chains)
        left = list(pool)
        skipped: list[_Group] = []
        while any(group.layer is not None for group in left):
            found = _walk(left, conventions, ordered)
            if not any(isinstance(part, Spec) for _, part in found):
                # No block follows this start (a matrix read as an embedding): start after it.
                skipped += [group for group, _ in found[:1]]
                left = [group for group in left if group not in skipped]
                continue
            parts, assumed = _placed(_recorded(found, inspection.recorded))
            taken = {id(group) for group, _ in parts}
            left = [group for group in left if id(group) not in taken]
            try:
                chains.append(
                    _chain(prefix, parts, assumed, len(pools) > 1, inspection.convention, inspection.recorded)
                )
            except SpecError as error:  # parts no model description holds together
                names = ", ".join(group.name for group, _ in parts)
                notes.append(f"{names}: not described as one model: {error}")
        left = [group for group in pool if group in skipped or group in left]
        notes += [_unplaced(group, chains[start:], conventions) for group in left if group.tensors]
    return tuple(chains), tuple(notes)


def _groups(inspection: Inspection) -> tuple[list[_Group], bool]:
    """Every module's tensors in the file's order (or its config's), and whether that order
    is the model's (False when the names are sorted: a Flax state, an HDF5 file's groups)."""
    owner = {tensor.name: layer for layer in inspection.recurrent for tensor in layer.tensors}
    keyed: dict[str, list[Tensor]] = {}
    layers: dict[str, RecurrentLayer] = {}
    used = {name: index for index, name in enumerate(inspection.order)}
    tensors = sorted(inspection.tensors, key=lambda tensor: used.get(tensor.name, len(used)))
    for index, tensor in enumerate(tensors):
        layer = owner.get(tensor.name)
        if layer is not None:
            key = f"\0{layer.prefix}"
            layers[key] = layer
        elif tensor.name in inspection.layer_of:
            key = inspection.layer_of[tensor.name].rsplit(" (", 1)[0]
        else:
            key = module_of(tensors, index, used)
        keyed.setdefault(key, []).append(tensor)
    rank = {name: index for index, name in enumerate(dict.fromkeys(inspection.layer_of.values()))}
    names = [tensor.name for tensor in inspection.tensors]
    by_config = bool(rank) and all(name in inspection.layer_of for name in names)
    ordered = by_config or bool(used) or names != sorted(names) or len(keyed) < 2
    groups = [
        _Group(layers[key].prefix if key in layers else key, tuple(held), layers.get(key))
        for key, held in keyed.items()
    ]
    if by_config:
        groups.sort(key=lambda group: rank[inspection.layer_of[group.tensors[0].name]])
    return groups, ordered


def _pools(groups: list[_Group]) -> list[tuple[str, list[_Group]]]:
    """One pool of groups per top-level module when each such module holds a recurrent block
    (an encoder and a decoder), else one pool for the file."""
    tops: dict[str, list[_Group]] = {}
    for group in groups:
        top = group.name.split(".", 1)[0] if "." in group.name else ""
        tops.setdefault(top, []).append(group)
    if len(tops) > 1 and "" not in tops and all(any(g.layer for g in pool) for pool in tops.values()):
        return [(f"{top}.", pool) for top, pool in tops.items()]
    return [("", groups)]


def _walk(
    left: list[_Group], conventions: list[FrameworkConvention], ordered: bool
) -> list[tuple[_Group, Part]]:
    """The longest chain from the first group that can start one: an embedding or a recurrent
    block, then each next group that takes the features handed on (empty when none can)."""
    parts: list[tuple[_Group, Part]] = []
    size: int | None = None
    pending = list(left)
    while True:
        fits: list[tuple[_Group, Part]] = []
        for group in pending:
            fits += [(group, part) for part in _candidates(group, conventions, size, parts)]
            if fits and ordered:
                break  # the file's order decides: the first group that fits
        if not ordered:  # no order recorded: a part that keeps the features goes first
            fits.sort(key=lambda found: handed_on(found[1], size) != size)
        if not fits:
            break
        group, part = fits[0]
        parts.append((group, part))
        pending.remove(group)
        size = handed_on(part, size)
    return parts


def _recorded(
    parts: list[tuple[_Group, Part]], recorded: Mapping[str, Mapping[str, Any]]
) -> list[tuple[_Group, Part]]:
    """``parts`` with what the file's config records (a norm's epsilon, a dense layer's
    ``per_step`` and activation) and its dropouts, each after the layer the config puts before
    it; a record the model cannot take leaves the parts as the weights say."""
    if not recorded:
        return parts
    placed: list[tuple[_Group, Part]] = []
    for group, part in parts:
        record = recorded.get(group.name, {})
        try:
            if isinstance(part, Dense) and record.get("kind") == "dense":
                activation = record.get("activation")
                known = activation if activation in {a.value for a in DenseActivation} else None
                part = Dense(part.units, part.bias, known, record.get("per_step"))
            elif isinstance(part, LayerNorm) and record.get("kind") == "layer_norm":
                part = LayerNorm(record.get("epsilon", part.epsilon), part.scale, part.bias)
        except SpecError:
            pass
        placed.append((group, part))
    names = {group.name: index for index, (group, _) in enumerate(placed)}
    after: dict[int, list[tuple[_Group, Part]]] = {}
    last: int | None = None
    for name, record in recorded.items():
        if name in names:
            last = names[name]
        elif record.get("kind") == "dropout" and last is not None:
            try:
                after.setdefault(last, []).append((_Group(name, ()), Dropout(record.get("rate", 0.5))))
            except SpecError:
                continue
    chain = [item for index, found in enumerate(placed) for item in (found, *after.get(index, ()))]
    try:
        Model(parts=tuple(part for _, part in chain))
    except SpecError:
        return parts
    return chain


def _placed(parts: list[tuple[_Group, Part]]) -> tuple[list[tuple[_Group, Part]], list[str]]:
    """The heads after the last block placed where the file records it (a Keras layer's
    ``return_sequences``), and what is assumed where it does not."""
    last = max(index for index, (_, part) in enumerate(parts) if isinstance(part, Spec))
    layer = parts[last][0].layer
    recorded = layer is not None and "return_sequences" in layer.spec.given
    assumed = []
    placed = list(parts)
    for index, (group, part) in enumerate(parts[last + 1 :], start=last + 1):
        if not isinstance(part, Dense) or part.per_step is not None:
            continue
        if recorded and layer is not None:
            placed[index] = (
                group,
                Dense(part.units, part.bias, part.activation, layer.spec.return_sequences),
            )
        else:
            assumed.append(
                f"{group.name}: the file does not record whether this dense layer acts on every step "
                "or on the last one, nor its activation: per_step is left unset (each framework's "
                "default) and no activation is assumed"
            )
    return placed, assumed


def handed_on(part: Part, size: int | None) -> int | None:
    """Features ``part`` hands on when given ``size``."""
    if isinstance(part, Spec):
        width = part.proj_size or part.hidden_size
        return 2 * width if part.bidirectional and part.merge_mode is MergeMode.CONCAT else width
    found = part.features(size)
    return found if isinstance(found, int) else None


def _candidates(
    group: _Group, conventions: list[FrameworkConvention], size: int | None, chain: list[tuple[_Group, Part]]
) -> list[Part]:
    """What ``group`` is, if it can come next in a chain that hands on ``size`` features."""
    start = not chain
    if group.layer is not None:
        spec = group.layer.spec
        if start or spec.input_size == size:
            return [_block(spec, keep_input=start)]
        return []
    blocks = any(isinstance(part, Spec) for _, part in chain)
    for part in _shaped(group.tensors, size, start, blocks):
        if any(_holds(convention, part, group.tensors, size) for convention in conventions):
            return [part]
    return []


def _block(spec: Spec, keep_input: bool) -> Spec:
    """A recurrent block as a chain holds it: the model's shape fields, not the layer's."""
    changes: dict[str, Any] = {"batch_size": None, "seq_len": None, "batch_first": False}
    changes["return_sequences"] = False
    if not keep_input:
        changes["input_size"] = None
    return spec.replace(**changes)


def _shaped(
    tensors: tuple[Tensor, ...], size: int | None, start: bool, blocks: bool
) -> list[Embedding | LayerNorm | Dense]:
    """Every part the shapes of ``tensors`` could be (the conventions' slots decide)."""
    shapes = [tensor.shape for tensor in tensors]
    matrices = [shape for shape in shapes if len(shape) == 2]
    vectors = [shape for shape in shapes if len(shape) == 1]
    found: list[Embedding | LayerNorm | Dense] = []
    if start and len(shapes) == 1 and matrices:
        rows, cols = matrices[0]
        found += [Embedding(rows, cols), Embedding(cols, rows)]
    if blocks and len(vectors) == len(shapes) and len({*vectors}) == 1 and vectors[0][0] == size:
        found += [LayerNorm(scale=s, bias=b) for s, b in ((True, True), (True, False), (False, True))]
    if blocks and size is not None and matrices and len(shapes) - len(vectors) == 1 and len(vectors) < 2:
        rows, cols = matrices[0]
        units = [other for dim, other in ((cols, rows), (rows, cols)) if dim == size]
        found += [Dense(count, bias=bool(vectors)) for count in dict.fromkeys(units)]
    return found


def _holds(
    convention: FrameworkConvention,
    part: Embedding | LayerNorm | Dense,
    tensors: tuple[Tensor, ...],
    size: int | None,
) -> bool:
    """True when ``tensors`` are what ``convention`` holds for ``part``: the same names and
    shapes, or the same shapes in order where the file numbers the variables."""
    layout = convention.part_layouts.get(part.kind)
    if layout is None:
        return False
    slots = [(slot.name, tuple(slot.shape)) for slot in layout.slots(part, size or 0)]
    leaves = [(leaf(tensor.name), tensor.shape) for tensor in tensors]
    if sorted(leaves) == sorted(slots):
        return True
    if not any(
        name in slots_names
        for name in (leaf(t.name) for t in tensors)
        for slots_names in [{n for n, _ in slots}]
    ):
        # an exporter's own names (onnx::MatMul_7): the shapes in the order the graph uses them
        return [tensor.shape for tensor in tensors] == [shape for _, shape in slots]
    return all(leaf.isdigit() for leaf, _ in leaves) and [
        shape for _, shape in sorted(leaves, key=lambda found: int(found[0]))
    ] == [shape for _, shape in slots]


def _numel(shape: tuple[Any, ...]) -> int:
    """A slot's size (every dimension is known once the features entering the part are)."""
    return math.prod(int(dim) for dim in shape)


def leaf(name: str) -> str:
    """A tensor's own name inside its module: after the last ``.`` or ``/``."""
    return name.replace("/", ".").rpartition(".")[2]


def _chain(
    prefix: str,
    found: list[tuple[_Group, Part]],
    assumed: list[str],
    named: bool,
    convention: str,
    recorded: Mapping[str, Mapping[str, Any]],
) -> Chain:
    """The :class:`Chain` of the parts found, with every convention's counts, and why each
    other convention's total differs from that of the file's ``convention`` (a layer norm's
    epsilon is said to be assumed unless the file ``recorded`` it)."""
    from rnncalc import frameworks
    from rnncalc.core.calc import analyze_model

    parts = tuple(part for _, part in found)
    name = prefix.rstrip(".") or None
    model = Model(parts=parts, name=name if named else None)
    if any(
        isinstance(part, LayerNorm)
        and part.epsilon == LayerNorm().epsilon
        and recorded.get(group.name, {}).get("kind") != "layer_norm"
        for group, part in found
    ):
        assumed = [
            *assumed,
            "a layer norm's epsilon is not in the weights: 1e-5 (PyTorch's default) is assumed",
        ]
    order = [known.name for known in frameworks.CONVENTIONS]
    first = frameworks.get(convention)
    analysis = analyze_model(model, [first, *(c for c in frameworks.CONVENTIONS if c is not first)])
    totals: dict[str, int | None] = {}
    reasons: dict[str, str] = {}
    for report in sorted(analysis.frameworks, key=lambda found: order.index(found.framework)):
        supported = report.supported and report.total.is_known
        totals[report.framework] = report.total.constant if supported else None
        if report.reason:
            reasons[report.framework] = report.reason
    title = {known.name: known.title for known in frameworks.CONVENTIONS}
    differences = tuple(
        f"{title[d.first]} − {title[d.second]} = {_signed(str(d.delta))}: {d.reason}"
        for d in analysis.differences
        if str(d.delta) != "0"
    )
    chain_parts = []
    size: int | None = None
    notes = list(assumed)
    for group, part in found:
        counts: dict[str, int | None] = {}
        for known in frameworks.CONVENTIONS:
            if group.layer is not None or isinstance(part, Spec):
                held = group.layer.conventions[known.name] if group.layer else {}
                counts[known.name] = held.get("total_params")
            else:
                slots = known.part_layouts[part.kind].slots(part, size or 0)
                counts[known.name] = sum(_numel(slot.shape) for slot in slots)
        chain_parts.append(ChainPart(group.name, part, group.tensors, counts, size))
        if group.layer is not None:
            notes += [f"{group.name}: {note}" for note in group.layer.notes]
        size = handed_on(part, size)
    return Chain(name, prefix, model, tuple(chain_parts), totals, reasons, differences, tuple(notes))


def _unplaced(group: _Group, chains: list[Chain], conventions: list[FrameworkConvention]) -> str:
    """Why ``group`` is in no chain: a branch beside one (a second head on the same block), or
    no part rnncalc describes."""
    shapes = ", ".join(f"{t.name} {'×'.join(map(str, t.shape)) or 'scalar'}" for t in group.tensors)
    label = f"{group.name or '(top level)'} ({shapes})"
    for chain in chains:
        for part, following in zip(chain.parts, chain.parts[1:], strict=False):
            size = handed_on(part.part, part.size)
            if _candidates(group, conventions, size, [(_Group(part.name, ()), part.part)]):
                return (
                    f"{label} takes the {size} features {part.name} hands on, beside "
                    f"{following.name}: a second branch, which a chain (one path) does not hold"
                )
    return (
        f"{label} is in no chain: no embedding, layer norm or dense layer of these shapes "
        "takes the features a chain hands on there"
    )


def source_block(inspection: Inspection, chain: Chain) -> dict[str, Any]:
    """What a config file's ``source:`` holds for a chain read from a file (the reader ignores
    it): the file, its format and convention, the chain's tensor prefix and tensors, and the
    file's tensors that no chain takes."""
    taken = {tensor.name for tensor in chain.tensors}
    return {
        "file": inspection.file,
        "format": inspection.format,
        "convention": inspection.convention,
        "prefix": chain.prefix,
        "file_params": inspection.total_params,
        "params": chain.params,
        "tensors": [_tensor_dict(tensor) for tensor in chain.tensors],
        "other_tensors": [_tensor_dict(t) for t in inspection.tensors if t.name not in taken],
    }


def _tensor_dict(tensor: Tensor) -> dict[str, Any]:
    return {"name": tensor.name, "shape": list(tensor.shape), "dtype": tensor.dtype}


def _signed(text: str) -> str:
    return text if text.startswith("-") else f"+{text}"
