"""Counts that may depend on an unknown input size ``I``.

Without ``--input`` only the first layer's input weights depend on ``I``, so every
count is an exact linear formula ``a*I + b``. Shapes hold ``INPUT`` where ``I`` goes,
and ``None`` for unknown batch or time dimensions.
"""

from __future__ import annotations

from typing import Any, NamedTuple

INPUT = "I"
#: One dimension: a number, the unknown input size ``"I"``, or ``None`` (unknown batch/time).
Dim = int | str | None
Shape = tuple[Dim, ...]


class Count(NamedTuple):
    """``per_input * I + constant``; a plain number when ``per_input`` is 0.

    An immutable value like the frozen dataclasses elsewhere, but a ``NamedTuple``: every
    weight of every analysis makes a few of these, and a tuple is built in a quarter of a frozen
    dataclass's time (0.25 against 1 µs here). Arithmetic is the linear kind below, never
    tuple concatenation or repetition.
    """

    per_input: int = 0
    constant: int = 0

    @property
    def is_known(self) -> bool:
        return self.per_input == 0

    @property
    def value(self) -> int:
        """The number; only valid when :attr:`is_known`."""
        if not self.is_known:
            raise ValueError(f"count depends on the input size: {self}")
        return self.constant

    def __add__(self, other: Count) -> Count:  # type: ignore[override]
        return Count(self.per_input + other.per_input, self.constant + other.constant)

    def __sub__(self, other: Count) -> Count:
        return Count(self.per_input - other.per_input, self.constant - other.constant)

    def __mul__(self, factor: int) -> Count:  # type: ignore[override]
        """``factor`` copies summed (layers × directions), not tuple repetition."""
        return Count(self.per_input * factor, self.constant * factor)

    def __rmul__(self, factor: int) -> Count:  # type: ignore[override]
        return self * factor

    def __str__(self) -> str:
        if self.is_known:
            return f"{self.constant:,}"
        head = f"{self.per_input}*{INPUT}"
        if self.constant == 0:
            return head
        sign = "+" if self.constant > 0 else "-"
        return f"{head} {sign} {abs(self.constant)}"

    def to_formula(self) -> dict[str, Any]:
        """The JSON formula object: ``{"I": a, "const": b, "text": "a*I + b"}``."""
        return {INPUT: self.per_input, "const": self.constant, "text": str(self)}


def total(counts: Any) -> Count:
    """Sum an iterable of counts."""
    per_input = constant = 0
    for count_per_input, count_constant in counts:
        per_input += count_per_input
        constant += count_constant
    return Count(per_input, constant)


def shape_count(shape: Shape) -> Count:
    """The number of elements of a weight shape; linear in ``I`` when ``I`` is a dimension."""
    product = 1
    symbolic = False
    for dim in shape:
        if isinstance(dim, int):
            product *= dim
        elif dim == INPUT:
            if symbolic:
                raise ValueError(f"shape {shape} is not linear in {INPUT}")
            symbolic = True
        else:
            raise ValueError(f"weight shape {shape} has an unknown dimension")
    return Count(product, 0) if symbolic else Count(0, product)


def shape_to_json(shape: Shape) -> list[Dim]:
    return list(shape)


def format_shape(shape: Shape) -> str:
    """``(None, 10, 16)`` as frameworks print shapes; a one-tuple keeps its comma."""
    parts = ["None" if dim is None else str(dim) for dim in shape]
    if len(parts) == 1:
        return f"({parts[0]},)"
    return "(" + ", ".join(parts) + ")"
