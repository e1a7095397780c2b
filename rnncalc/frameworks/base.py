"""What the framework modules share: one direction's sizes, a weight slot, and the stack
arithmetic every convention repeats.

Each framework's own weight layout (names, shapes, orientation, gate order, bias layout)
lives in its module (:mod:`rnncalc.frameworks.torch`, ...); parameter counts are never written
anywhere: they follow from the slot shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from rnncalc.core.calc import GATES
from rnncalc.core.frozen import Frozen
from rnncalc.core.report import Role, WeightRow
from rnncalc.core.spec import Activation, Cell, Spec
from rnncalc.core.symbolic import INPUT, Count, Dim, Shape, shape_count

if TYPE_CHECKING:
    from rnncalc.core.model import Model

__all__ = [
    "DIRECTIONS",
    "GATES",
    "CanonicalTensor",
    "CellGeometry",
    "LayerNames",
    "PartLayout",
    "Role",
    "WeightSlot",
    "arrow",
    "canonical_names",
    "custom_activations",
    "direction_formula",
    "first_input",
    "geometry",
    "model_unsupported",
    "no_slots",
    "norm_slots",
    "rows",
    "stack_count",
]

#: Direction names of :class:`~rnncalc.core.report.WeightRow`, forward first.
DIRECTIONS = ("forward", "backward")


class WeightSlot(NamedTuple):
    """One weight tensor of one direction of one layer: its framework name, shape and role.

    An immutable ``NamedTuple`` rather than a frozen dataclass: analyses build one per weight
    of every direction of every layer, and a tuple is built in half the time.
    """

    name: str
    shape: Shape
    role: Role


class CanonicalTensor(NamedTuple):
    """Which canonical tensor (PyTorch's name and orientation, see
    :func:`rnncalc.reference_parts.canonical_shapes`) a framework's tensor of a part holds, and
    whether it holds it transposed (a Keras or Flax kernel ``(in, out)`` for ``weight``
    ``(out, in)``)."""

    name: str
    transposed: bool = False


class PartLayout(NamedTuple):
    """How a convention holds one kind of part other than a recurrent block (an embedding, a
    layer norm, a dropout, a dense layer): data, so that walking a model never branches on kinds.

    ``kind`` names the class or operator a part becomes (``"Linear"``); ``base`` is the name a
    framework numbers it under (Keras's ``layer_normalization``, ``layer_normalization_1``);
    ``slots`` are its weights for an input of ``size`` features, in the framework's order;
    ``numbered`` is False for a part named ``base`` alone (ONNX's one ``embedding``);
    ``canonical`` maps each slot's name to the canonical tensor it holds.
    """

    kind: Callable[[Any], str]
    base: str
    slots: Callable[[Any, Dim], list[WeightSlot]]
    numbered: bool = True
    canonical: Mapping[str, CanonicalTensor] = MappingProxyType({})


def canonical_names(**names: str | tuple[str, bool]) -> Mapping[str, CanonicalTensor]:
    """A :attr:`PartLayout.canonical` column: slot name → canonical name, or (name, transposed)."""
    return MappingProxyType(
        {
            slot: CanonicalTensor(*target) if isinstance(target, tuple) else CanonicalTensor(target)
            for slot, target in names.items()
        }
    )


def norm_slots(scale: str, bias: str) -> Callable[[Any, Dim], list[WeightSlot]]:
    """A layer norm's ``(features,)`` scale and bias vectors under these names (each one only
    when the part keeps it), scale first as every framework creates them."""

    def slots(part: Any, size: Dim) -> list[WeightSlot]:
        held = ((scale, part.scale), (bias, part.bias))
        return [WeightSlot(name, (size,), Role.NORM) for name, kept in held if kept]

    return slots


def no_slots(part: Any, size: Dim) -> list[WeightSlot]:
    """A part without weights (dropout)."""
    return []


class CellGeometry(Frozen):
    """Sizes that fix one direction's weights: the same meaning in every framework."""

    _fields = ("cell", "input_size", "hidden_size", "proj_size", "bias", "reset_after")
    __slots__ = _fields

    cell: Cell
    input_size: Dim  # int, or INPUT for the unknown input size of layer 0
    hidden_size: int
    proj_size: int  # 0 = no projection (PyTorch LSTM only)
    bias: bool
    reset_after: bool  # GRU only; PyTorch's GRU is always the reset_after=True variant

    def __init__(
        self, cell: Cell, input_size: Dim, hidden_size: int, proj_size: int, bias: bool, reset_after: bool
    ) -> None:
        self._assign(cell, input_size, hidden_size, proj_size, bias, reset_after)

    @property
    def gate_rows(self) -> int:
        return GATES[self.cell] * self.hidden_size

    @property
    def recurrent_size(self) -> int:
        """Size of the state fed back into the recurrence (the projection, when there is one)."""
        return self.proj_size or self.hidden_size


def geometry(spec: Spec, input_size: Dim) -> CellGeometry:
    """One direction of a layer of ``spec`` on ``input_size`` features."""
    return CellGeometry(spec.cell, input_size, spec.hidden_size, spec.proj_size, spec.bias, spec.reset_after)


def first_input(spec: Spec | Model) -> Dim:
    """The first layer's input size, or the symbol ``I`` when the spec (or model) leaves it unknown."""
    return spec.input_size if spec.input_size is not None else INPUT


class LayerNames:
    """Names numbered per base across a model, as a framework hands them out: Keras's automatic
    ``lstm``, ``lstm_1`` (``first_numbered=False``) or ONNX node names ``lstm_0``, ``lstm_1``."""

    def __init__(self, first_numbered: bool = False) -> None:
        self._seen: dict[str, int] = {}
        self._first_numbered = first_numbered

    def next(self, base: str) -> str:
        count = self._seen.get(base, 0)
        self._seen[base] = count + 1
        return f"{base}_{count}" if count or self._first_numbered else base


def rows(slots: list[WeightSlot], direction: str, prefix: str = "") -> tuple[WeightRow, ...]:
    """Report rows for one direction's slots; ``prefix`` is put before each name in the path."""
    return tuple(WeightRow(s.name, prefix + s.name, s.shape, s.role, direction) for s in slots)


#: One direction's slots for a geometry (the part of a convention :func:`stack_count` needs).
SlotsOf = Callable[[CellGeometry], list[WeightSlot]]


@lru_cache(maxsize=4096)
def direction_formula(
    slots: SlotsOf, cell: Cell, hidden_size: int, proj_size: int, bias: bool, reset_after: bool
) -> Count:
    """Elements of one direction's weights as a formula ``a*I + b`` in its input size ``I``:
    the sum of the slot shapes (names do not matter) of that direction on an input of ``I``."""
    per_input = constant = 0
    for slot in slots(CellGeometry(cell, INPUT, hidden_size, proj_size, bias, reset_after)):
        count = shape_count(slot.shape)
        per_input += count.per_input
        constant += count.constant
    return Count(per_input, constant)


def stack_count(slots: SlotsOf, spec: Spec, next_input: int) -> Count:
    """``num_layers`` layers × directions: the first on the spec's input, the rest on
    ``next_input`` features (what one layer hands the next in this framework)."""
    per_input, constant = direction_formula(
        slots, spec.cell, spec.hidden_size, spec.proj_size, spec.bias, spec.reset_after
    )
    # One direction's count is linear in its input size: the first layer's is still a formula
    # when the input size is unknown; later layers take ``next_input`` features.
    first = (
        Count(per_input, constant)
        if spec.input_size is None
        else Count(0, per_input * spec.input_size + constant)
    )
    count = first + Count(0, per_input * next_input + constant) * (spec.num_layers - 1)
    return count * spec.num_directions


def model_unsupported(
    model: Model,
    unsupported: Callable[[Spec], str | None],
    part_unsupported: Callable[[Any], str | None] = lambda part: None,
) -> str | None:
    """The first reason a framework cannot build ``model`` (``layers[i]: ...`` for the i-th
    recurrent block, ``parts[i]: ...`` for another part of the chain), or None."""
    for index, spec in enumerate(model.layers):
        reason = unsupported(spec)
        if reason:
            return f"layers[{index}]: {reason}"
    for index, part in enumerate(model.parts):
        if not isinstance(part, Spec):
            reason = part_unsupported(part)
            if reason:
                return f"parts[{index}]: {reason}"
    return None


def arrow(kinds: list[str]) -> str:
    return " → ".join(kinds)


def custom_activations(spec: Spec) -> bool:
    """Activations other than the usual ones: tanh (relu for a rnn) and sigmoid gates, all that
    frameworks without Keras's ``activation`` options (ONNX's defaults, Flax's cells) model here."""
    allowed = {Activation.TANH, Activation.RELU} if spec.cell is Cell.RNN else {Activation.TANH}
    return spec.cell_activation not in allowed or (
        spec.cell is not Cell.RNN and spec.gate_activation is not Activation.SIGMOID
    )
