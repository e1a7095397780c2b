"""The model description: an immutable, validated value built from flags, files or dicts.

Every choice is an enum converted where input enters; the core never branches on strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from rnncalc.core.errors import SpecError
from rnncalc.core.frozen import Frozen
from rnncalc.core.limits import MAX_LAYERS, MAX_SIZE, MAX_TENSOR_ELEMENTS
from rnncalc.core.text import shown


class Cell(str, Enum):
    RNN = "rnn"
    LSTM = "lstm"
    GRU = "gru"


class Nonlinearity(str, Enum):
    TANH = "tanh"
    RELU = "relu"


class MergeMode(str, Enum):
    """Keras ``Bidirectional(merge_mode=...)``; ``NONE`` returns both directions separately."""

    CONCAT = "concat"
    SUM = "sum"
    MUL = "mul"
    AVE = "ave"
    NONE = "none"


class Framework(str, Enum):
    TORCH = "torch"
    KERAS = "keras"


CELL_ALIASES: dict[str, Cell] = {
    "rnn": Cell.RNN,
    "simplernn": Cell.RNN,
    "simple_rnn": Cell.RNN,
    "simple-rnn": Cell.RNN,
    "elman": Cell.RNN,
    "lstm": Cell.LSTM,
    "gru": Cell.GRU,
}


class Spec(Frozen):
    """One recurrent stack (``num_layers`` identical layers) and the input it is run on.

    Immutable and validated on construction; ``given`` names the fields the user set (the
    others took their defaults) and, like a field with ``compare=False``, is left out of
    equality.
    """

    _fields = (
        "cell",
        "hidden_size",
        "input_size",
        "num_layers",
        "bidirectional",
        "batch_first",
        "bias",
        "nonlinearity",
        "proj_size",
        "reset_after",
        "return_sequences",
        "return_state",
        "merge_mode",
        "batch_size",
        "seq_len",
        "unbatched",
    )
    __slots__ = (*_fields, "given")

    cell: Cell
    hidden_size: int
    input_size: int | None
    num_layers: int
    bidirectional: bool
    batch_first: bool
    bias: bool
    nonlinearity: Nonlinearity
    proj_size: int
    reset_after: bool
    return_sequences: bool
    return_state: bool
    merge_mode: MergeMode
    batch_size: int | None
    seq_len: int | None
    unbatched: bool
    given: frozenset[str]

    def __init__(
        self,
        *,
        cell: Cell,
        hidden_size: int,
        input_size: int | None = None,
        num_layers: int = 1,
        bidirectional: bool = False,
        batch_first: bool = False,
        bias: bool = True,
        nonlinearity: Nonlinearity = Nonlinearity.TANH,
        proj_size: int = 0,
        reset_after: bool = True,
        return_sequences: bool = False,
        return_state: bool = False,
        merge_mode: MergeMode = MergeMode.CONCAT,
        batch_size: int | None = None,
        seq_len: int | None = None,
        unbatched: bool = False,
        given: frozenset[str] = frozenset(),
    ) -> None:
        self._assign(
            cell,
            hidden_size,
            input_size,
            num_layers,
            bidirectional,
            batch_first,
            bias,
            nonlinearity,
            proj_size,
            reset_after,
            return_sequences,
            return_state,
            merge_mode,
            batch_size,
            seq_len,
            unbatched,
            given,
        )
        _validate(self)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def defaults_used(self) -> tuple[str, ...]:
        """Fields that took their default value, in declaration order."""
        return tuple(name for name in SPEC_FIELDS if name not in self.given and name != "cell")

    def replace(self, **changes: Any) -> Spec:
        """A copy with ``changes`` applied and recorded as given."""
        return super().replace(**changes, given=self.given | frozenset(changes))

    def to_dict(self) -> dict[str, Any]:
        """The normalized spec as JSON-ready values (enums as their strings)."""
        data = {name: getattr(self, name) for name in SPEC_FIELDS}
        for name in _ENUM_VALUED:
            data[name] = data[name].value
        return data


#: Every field but ``given``, in declaration order.
SPEC_FIELDS: tuple[str, ...] = Spec._fields
_INT_FIELDS = {"hidden_size", "input_size", "num_layers", "proj_size", "batch_size", "seq_len"}
_BOOL_FIELDS = {
    "bidirectional",
    "batch_first",
    "bias",
    "reset_after",
    "return_sequences",
    "return_state",
    "unbatched",
}
_ENUM_FIELDS: dict[str, type[Enum]] = {
    "nonlinearity": Nonlinearity,
    "merge_mode": MergeMode,
}
#: Fields holding an enum, which JSON gets as its string.
_ENUM_VALUED: tuple[str, ...] = ("cell", *_ENUM_FIELDS)
_FIELD_SET = frozenset(SPEC_FIELDS)


def parse_cell(value: Any) -> Cell:
    if isinstance(value, Cell):
        return value
    key = value.strip().lower() if isinstance(value, str) else None
    if key not in CELL_ALIASES:
        raise SpecError("cell", f"unknown cell {shown(value)}; choose rnn, lstm or gru")
    return CELL_ALIASES[key]


def _coerce(name: str, value: Any) -> Any:
    """Convert one raw value (from JSON, YAML, TOML or click) to the field's type."""
    if name == "cell":
        return parse_cell(value)
    if name in _INT_FIELDS:
        if value is None and name in {"input_size", "batch_size", "seq_len"}:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(name, f"must be an integer, got {shown(value)}")
        if value > MAX_SIZE:
            raise SpecError(name, f"must be at most {MAX_SIZE:,}, got {shown(value)}")
        return value
    if name in _BOOL_FIELDS:
        if not isinstance(value, bool):
            raise SpecError(name, f"must be true or false, got {shown(value)}")
        return value
    enum_type = _ENUM_FIELDS[name]
    if isinstance(value, enum_type):
        return value
    if value is None and enum_type is MergeMode:
        return MergeMode.NONE
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return enum_type(value.lower())
    except ValueError:
        choices = ", ".join(str(m.value) for m in enum_type)
        raise SpecError(name, f"unknown value {shown(value)}; choose {choices}") from None


def spec_from_mapping(data: Mapping[str, Any]) -> Spec:
    """Build a :class:`Spec` from a plain mapping, rejecting unknown keys and bad types."""
    unknown = [key for key in data if key not in _FIELD_SET]
    if unknown:
        key = unknown[0]
        raise SpecError(str(key), f"unknown field{did_you_mean(str(key), SPEC_FIELDS)}")
    for required in ("cell", "hidden_size"):
        if data.get(required) is None:
            raise SpecError(required, "is required")
    values = {name: _coerce(name, value) for name, value in data.items()}
    return Spec(**values, given=frozenset(values))


def did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str:
    """A ``" (did you mean 'x'?)"`` suffix, or an empty string when nothing is close."""
    import difflib

    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _validate(spec: Spec) -> None:
    def positive(name: str) -> None:
        value = getattr(spec, name)
        if value is not None and value < 1:
            raise SpecError(name, f"must be a positive integer, got {value}")

    for name in ("hidden_size", "input_size", "num_layers", "batch_size", "seq_len"):
        positive(name)
    for name in _INT_FIELDS:
        value = getattr(spec, name)
        if value is not None and value > MAX_SIZE:  # flags and library callers skip _coerce
            raise SpecError(name, f"must be at most {MAX_SIZE:,}, got {shown(value)}")
    if spec.num_layers > MAX_LAYERS:
        raise SpecError("num_layers", f"must be at most {MAX_LAYERS:,}, got {spec.num_layers:,}")
    _check_tensor_sizes(spec)
    if spec.proj_size < 0:
        raise SpecError("proj_size", f"must be 0 (no projection) or positive, got {spec.proj_size}")
    if spec.proj_size and spec.cell is not Cell.LSTM:
        raise SpecError("proj_size", f"applies to lstm only, not {spec.cell.value}")
    if spec.proj_size and spec.proj_size >= spec.hidden_size:
        raise SpecError(
            "proj_size", f"must be smaller than hidden_size ({spec.hidden_size}), got {spec.proj_size}"
        )
    if spec.nonlinearity is not Nonlinearity.TANH and spec.cell is not Cell.RNN:
        raise SpecError("nonlinearity", f"applies to rnn only, not {spec.cell.value}")
    if not spec.reset_after and spec.cell is not Cell.GRU:
        raise SpecError("reset_after", f"applies to gru only, not {spec.cell.value}")
    if spec.merge_mode is not MergeMode.CONCAT and not spec.bidirectional:
        raise SpecError("merge_mode", "applies to bidirectional layers only; add bidirectional")
    if spec.merge_mode is MergeMode.NONE and spec.num_layers > 1:
        raise SpecError(
            "merge_mode",
            "none returns two separate outputs, so no layer can be stacked on top; "
            "use num_layers 1 or another merge mode",
        )
    if spec.unbatched and spec.batch_size is not None:
        raise SpecError("unbatched", "contradicts batch_size; give one or the other")


#: Gate blocks stacked in each weight matrix: 1 (RNN), 4 (LSTM: i, f, g, o), 3 (GRU: r, z, n).
_GATES = {Cell.RNN: 1, Cell.LSTM: 4, Cell.GRU: 3}


def _check_tensor_sizes(spec: Spec) -> None:
    """Refuse a spec whose largest weight matrix no framework can allocate (see MAX_TENSOR_ELEMENTS)."""
    rows = _GATES[spec.cell] * spec.hidden_size
    out = spec.proj_size or spec.hidden_size
    inputs = max(spec.input_size or 1, out * spec.num_directions if spec.num_layers > 1 else 1, out)
    if rows * inputs > MAX_TENSOR_ELEMENTS:
        raise SpecError(
            "hidden_size",
            f"a weight matrix of {rows:,} x {inputs:,} has more elements than PyTorch or "
            f"TensorFlow can allocate ({MAX_TENSOR_ELEMENTS:,})",
        )
