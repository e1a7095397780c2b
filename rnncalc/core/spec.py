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


#: Gate blocks stacked in each weight matrix (the same in every framework): 1 (RNN),
#: 4 (LSTM: i, f, g, o), 3 (GRU: r, z, n). Defined beside :class:`Cell` so that validation
#: bounds tensor sizes without importing the calculator; :mod:`rnncalc.core.calc` re-exports it.
GATES: dict[Cell, int] = {Cell.RNN: 1, Cell.GRU: 3, Cell.LSTM: 4}


class Nonlinearity(str, Enum):
    TANH = "tanh"
    RELU = "relu"


class Activation(str, Enum):
    """Keras ``activation``/``recurrent_activation`` values rnncalc models (``keras.activations``
    by name); the numpy reference implements each (:mod:`rnncalc.reference`)."""

    TANH = "tanh"
    RELU = "relu"
    SIGMOID = "sigmoid"
    HARD_SIGMOID = "hard_sigmoid"
    LINEAR = "linear"


class MergeMode(str, Enum):
    """Keras ``Bidirectional(merge_mode=...)``; ``NONE`` returns both directions separately."""

    CONCAT = "concat"
    SUM = "sum"
    MUL = "mul"
    AVE = "ave"
    NONE = "none"


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
        "step",
        "activation",
        "recurrent_activation",
        "go_backwards",
        "unit_forget_bias",
        "stateful",
        "unroll",
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
    step: bool
    activation: Activation | None
    recurrent_activation: Activation | None
    go_backwards: bool
    unit_forget_bias: bool
    stateful: bool
    unroll: bool
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
        step: bool = False,
        activation: Activation | None = None,
        recurrent_activation: Activation | None = None,
        go_backwards: bool = False,
        unit_forget_bias: bool = True,
        stateful: bool = False,
        unroll: bool = False,
        given: frozenset[str] = frozenset(),
    ) -> None:
        if cell is Cell.RNN and activation in _NONLINEARITIES and "nonlinearity" not in given:
            # For rnn, Keras's ``activation`` tanh/relu is PyTorch's ``nonlinearity``: one value.
            nonlinearity = Nonlinearity(activation.value)
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
            step,
            activation,
            recurrent_activation,
            go_backwards,
            unit_forget_bias,
            stateful,
            unroll,
            given,
        )
        _validate(self)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def cell_activation(self) -> Activation:
        """The activation of the candidate (and of LSTM's ``tanh(c)``; the whole update of a
        rnn): ``activation`` when given, else ``nonlinearity`` for rnn and tanh otherwise."""
        if self.activation is not None:
            return self.activation
        return Activation(self.nonlinearity.value) if self.cell is Cell.RNN else Activation.TANH

    @property
    def gate_activation(self) -> Activation:
        """LSTM's and GRU's gate activation: ``recurrent_activation`` when given, else sigmoid."""
        return self.recurrent_activation or Activation.SIGMOID

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
            data[name] = None if data[name] is None else data[name].value
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
    "step",
    "go_backwards",
    "unit_forget_bias",
    "stateful",
    "unroll",
}
_ENUM_FIELDS: dict[str, type[Enum]] = {
    "nonlinearity": Nonlinearity,
    "merge_mode": MergeMode,
    "activation": Activation,
    "recurrent_activation": Activation,
}
#: Enum fields whose null means "the cell's default" (``Spec.cell_activation``, ...).
_NULLABLE_ENUMS = frozenset({"activation", "recurrent_activation"})
#: Activations that are also a PyTorch ``nonlinearity`` of ``nn.RNN``.
_NONLINEARITIES = frozenset({Activation.TANH, Activation.RELU})
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
    if value is None and name in _NULLABLE_ENUMS:
        return None
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


def describe_spec(spec: Spec) -> str:
    """``lstm, input 300, hidden 512, 2 layers, bidirectional`` in one line."""
    words = [spec.cell.value]
    words.append(f"input {spec.input_size}" if spec.input_size is not None else "input I (unknown)")
    words.append(f"hidden {spec.hidden_size}")
    if spec.proj_size:
        words.append(f"projection {spec.proj_size}")
    words.append(f"{spec.num_layers} layer" + ("s" if spec.num_layers > 1 else ""))
    if spec.bidirectional:
        words.append("bidirectional")
    if not spec.bias:
        words.append("no bias")
    if spec.step:
        words.append("one step of a cell")
    if spec.activation is not None and not (spec.cell is Cell.RNN and spec.activation in _NONLINEARITIES):
        words.append(f"activation {spec.activation.value}")
    if spec.recurrent_activation is not None:
        words.append(f"recurrent_activation {spec.recurrent_activation.value}")
    words += [name for name in ("go_backwards", "stateful", "unroll") if getattr(spec, name)]
    if not spec.unit_forget_bias:
        words.append("no unit_forget_bias")
    return ", ".join(words)


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
    _validate_keras_options(spec)
    if spec.step:
        _validate_step(spec)


def _validate_keras_options(spec: Spec) -> None:
    """Keras layer options (``keras/src/layers/rnn/{rnn,lstm,gru,simple_rnn}.py``)."""
    if spec.cell is Cell.RNN and spec.recurrent_activation is not None:
        raise SpecError("recurrent_activation", "applies to lstm and gru only (a rnn has no gates)")
    if (
        spec.cell is Cell.RNN
        and spec.activation in _NONLINEARITIES
        and spec.activation is not Activation(spec.nonlinearity.value)
    ):
        raise SpecError(
            "activation",
            f"{spec.activation.value} contradicts nonlinearity {spec.nonlinearity.value}; "
            "for rnn they are one setting (Keras activation, PyTorch nonlinearity): give one",
        )
    if not spec.unit_forget_bias and spec.cell is not Cell.LSTM:
        raise SpecError("unit_forget_bias", f"applies to lstm only, not {spec.cell.value}")
    if spec.stateful and spec.batch_size is None:
        raise SpecError(
            "stateful", "needs batch_size: Keras keeps one state per batch row, so the batch is fixed"
        )
    if spec.unroll and spec.seq_len is None:
        raise SpecError("unroll", "needs seq_len: Keras unrolls a fixed number of time steps")
    if spec.go_backwards and spec.bidirectional:
        raise SpecError(
            "go_backwards",
            "contradicts bidirectional: Bidirectional runs its backward copy with go_backwards itself",
        )


#: Layer-over-time fields that have no meaning for one step of a cell.
_NOT_FOR_STEP: tuple[tuple[str, str], ...] = (
    ("bidirectional", "a cell runs one step in one direction; bidirectional needs the whole sequence"),
    ("seq_len", "a cell runs exactly one time step"),
    ("batch_first", "a cell takes (N, I); there is no time axis to put second"),
    ("return_sequences", "a cell returns its new states itself; return_sequences is a layer's"),
    ("return_state", "a cell returns its new states itself; return_state is a layer's"),
    ("go_backwards", "one step has no direction to reverse"),
    ("stateful", "a cell keeps no state between calls; pass the states back yourself"),
    ("unroll", "one step has no loop to unroll"),
)


def _validate_step(spec: Spec) -> None:
    for name, why in _NOT_FOR_STEP:
        if getattr(spec, name) not in (None, False):
            raise SpecError(name, f"does not apply with step: {why}")


def _check_tensor_sizes(spec: Spec) -> None:
    """Refuse a spec whose largest weight matrix no framework can allocate (see MAX_TENSOR_ELEMENTS)."""
    rows = GATES[spec.cell] * spec.hidden_size
    out = spec.proj_size or spec.hidden_size
    inputs = max(spec.input_size or 1, out * spec.num_directions if spec.num_layers > 1 else 1, out)
    if rows * inputs > MAX_TENSOR_ELEMENTS:
        raise SpecError(
            "hidden_size",
            f"a weight matrix of {rows:,} x {inputs:,} has more elements than PyTorch or "
            f"TensorFlow can allocate ({MAX_TENSOR_ELEMENTS:,})",
        )
