"""Each framework's weight layout for one direction of one recurrent layer, as data.

Sources: PyTorch ``torch.nn.RNN``/``LSTM``/``GRU`` docs ("Variables" sections);
Keras 3 ``keras/src/layers/rnn/{simple_rnn,lstm,gru}.py`` (``build`` of each cell).
Parameter counts are never written here: they follow from these shapes.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from rnncalc.core.frozen import Frozen
from rnncalc.core.spec import Cell, Framework
from rnncalc.core.symbolic import Dim, Shape

#: Gate blocks stacked in each weight matrix.
GATES: dict[Cell, int] = {Cell.RNN: 1, Cell.GRU: 3, Cell.LSTM: 4}

#: Order of the gate blocks inside the stacked matrices (from each framework's docs/source).
GATE_ORDER: dict[tuple[Framework, Cell], tuple[str, ...]] = {
    (Framework.TORCH, Cell.RNN): ("h",),
    (Framework.TORCH, Cell.LSTM): ("i", "f", "g", "o"),
    (Framework.TORCH, Cell.GRU): ("r", "z", "n"),
    (Framework.KERAS, Cell.RNN): ("h",),
    (Framework.KERAS, Cell.LSTM): ("i", "f", "c", "o"),
    (Framework.KERAS, Cell.GRU): ("z", "r", "h"),
}

#: Class names as each framework spells them.
CLASS_NAMES: dict[tuple[Framework, Cell], str] = {
    (Framework.TORCH, Cell.RNN): "RNN",
    (Framework.TORCH, Cell.LSTM): "LSTM",
    (Framework.TORCH, Cell.GRU): "GRU",
    (Framework.KERAS, Cell.RNN): "SimpleRNN",
    (Framework.KERAS, Cell.LSTM): "LSTM",
    (Framework.KERAS, Cell.GRU): "GRU",
}

#: Keras's automatic layer names (``SimpleRNN`` → ``simple_rnn``) and its cells' names.
KERAS_LAYER_NAMES: dict[Cell, str] = {Cell.RNN: "simple_rnn", Cell.LSTM: "lstm", Cell.GRU: "gru"}


class Role(str, Enum):
    """What a weight tensor does; used to explain where two frameworks' totals differ."""

    INPUT_KERNEL = "input weights"
    RECURRENT_KERNEL = "recurrent weights"
    BIAS = "bias"
    PROJECTION = "projection"
    EMBEDDING = "embedding"
    DENSE = "dense head"


class WeightSlot(NamedTuple):
    """One weight tensor of one direction of one layer: its framework name, shape and role.

    An immutable ``NamedTuple`` rather than a frozen dataclass: analyses build one per weight
    of every direction of every layer, and a tuple is built in half the time.
    """

    name: str
    shape: Shape
    role: Role


class CellGeometry(Frozen):
    """Sizes that fix one direction's weights: same meaning in both frameworks."""

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


def bias_vectors(framework: Framework, geometry: CellGeometry) -> int:
    """How many bias vectors of ``gates*H`` one direction keeps.

    PyTorch always keeps ``bias_ih`` and ``bias_hh``. Keras keeps one, except GRU with
    ``reset_after=True`` (its default), whose bias has shape ``(2, 3*units)`` because the
    recurrent bias is applied inside the reset gate's product.
    """
    if not geometry.bias:
        return 0
    if framework is Framework.TORCH:
        return 2
    return 2 if geometry.cell is Cell.GRU and geometry.reset_after else 1


def torch_slots(geometry: CellGeometry, layer: int, reverse: bool) -> list[WeightSlot]:
    """PyTorch parameters in ``named_parameters()`` order: W_ih, W_hh, b_ih, b_hh, W_hr.

    ``weight_ih_l{k}`` is ``(gates*H, in)`` and ``weight_hh_l{k}`` is ``(gates*H, proj or H)``;
    the reverse direction adds the ``_reverse`` suffix.
    """
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")
    rows = geometry.gate_rows
    slots = [
        WeightSlot(f"weight_ih{suffix}", (rows, geometry.input_size), Role.INPUT_KERNEL),
        WeightSlot(f"weight_hh{suffix}", (rows, geometry.recurrent_size), Role.RECURRENT_KERNEL),
    ]
    if bias_vectors(Framework.TORCH, geometry):
        slots.append(WeightSlot(f"bias_ih{suffix}", (rows,), Role.BIAS))
        slots.append(WeightSlot(f"bias_hh{suffix}", (rows,), Role.BIAS))
    if geometry.proj_size:
        slots.append(
            WeightSlot(f"weight_hr{suffix}", (geometry.proj_size, geometry.hidden_size), Role.PROJECTION)
        )
    return slots


def keras_slots(geometry: CellGeometry) -> list[WeightSlot]:
    """Keras cell weights in ``layer.weights`` order: kernel, recurrent_kernel, bias.

    Keras stores matrices transposed relative to PyTorch: ``kernel`` is ``(in, gates*units)``.
    """
    cols = geometry.gate_rows
    slots = [
        WeightSlot("kernel", (geometry.input_size, cols), Role.INPUT_KERNEL),
        WeightSlot("recurrent_kernel", (geometry.hidden_size, cols), Role.RECURRENT_KERNEL),
    ]
    vectors = bias_vectors(Framework.KERAS, geometry)
    if vectors == 1:
        slots.append(WeightSlot("bias", (cols,), Role.BIAS))
    elif vectors == 2:
        slots.append(WeightSlot("bias", (2, cols), Role.BIAS))
    return slots


# --- Embedding and dense heads (same counts in both frameworks, transposed kernels) --------

#: ``nn.Embedding.weight`` and Keras ``Embedding.embeddings`` are both ``(vocab, dim)``.
EMBEDDING_WEIGHT_NAME: dict[Framework, str] = {Framework.TORCH: "weight", Framework.KERAS: "embeddings"}
#: Class names of the non-recurrent modules.
EMBEDDING_CLASS: dict[Framework, str] = {Framework.TORCH: "Embedding", Framework.KERAS: "Embedding"}
DENSE_CLASS: dict[Framework, str] = {Framework.TORCH: "Linear", Framework.KERAS: "Dense"}


def embedding_slots(framework: Framework, vocab_size: int, dim: int) -> list[WeightSlot]:
    return [WeightSlot(EMBEDDING_WEIGHT_NAME[framework], (vocab_size, dim), Role.EMBEDDING)]


def dense_slots(framework: Framework, input_size: Dim, units: int, bias: bool) -> list[WeightSlot]:
    """``nn.Linear``: ``weight (out, in)``, ``bias (out,)``.

    Keras ``Dense``: ``kernel (in, units)``, ``bias (units,)``.
    """
    if framework is Framework.TORCH:
        slots = [WeightSlot("weight", (units, input_size), Role.DENSE)]
    else:
        slots = [WeightSlot("kernel", (input_size, units), Role.DENSE)]
    if bias:
        slots.append(WeightSlot("bias", (units,), Role.DENSE))
    return slots
