"""Parse the quantities users type: budgets (``1M``, ``1.5G``), byte sizes (``512MiB``),
value ranges (``64:1024:x2``) and sequence lengths (``12,30,7``, or a file's content).

Pure string handling; every error is a :class:`~rnncalc.core.errors.SpecError` naming the field.
"""

from __future__ import annotations

import re
from fractions import Fraction

from rnncalc.core.errors import SpecError
from rnncalc.core.limits import MAX_LENGTHS
from rnncalc.core.text import printable, shown

#: Decimal suffixes for counts (parameters, FLOPs). Case-insensitive, ``K`` = ``k``.
COUNT_SUFFIXES: dict[str, int] = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}

#: Byte units: SI (``kB`` = 1000) and IEC (``KiB`` = 1024); a bare ``k``/``M``/``G`` is SI.
BYTE_SUFFIXES: dict[str, int] = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


#: A number as users write it, in ASCII digits only (``int()`` would also take ``²`` or
#: ``٣``): ``1_000_000`` (underscores between digits), ``1,000,000`` (commas as thousands
#: separators only, so ``1,5M`` is an error and not 15M), an optional decimal fraction.
_NUMBER = re.compile(
    r"(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+(?:_[0-9]+)*)?(?:\.(?P<fraction>[0-9]+(?:_[0-9]+)*))?",
    re.ASCII,
)
#: Digits a quantity may have: far beyond any budget, short of Python's int-from-text limit.
_MAX_DIGITS = 40


def _split_number(text: str) -> tuple[str, str] | None:
    """``"1.5GiB"`` → ``("1.5", "GiB")``; None when the text does not start with a number."""
    body = text.strip()
    match = _NUMBER.match(body)
    if match is None or not (match.group("whole") or match.group("fraction")):
        return None
    number = match.group(0).replace("_", "").replace(",", "")
    if len(number) > _MAX_DIGITS:
        return None
    return number, body[match.end() :].strip()


def _quantity(field: str, text: str | int, suffixes: dict[str, int], kind: str) -> int:
    examples = "1M, 250k, 1.5G, 1_000_000" if kind == "count" else "512MiB, 2GB, 1.5G, 4096"
    if isinstance(text, bool) or not isinstance(text, (int, str)):
        raise SpecError(field, f"must be a {kind} such as {examples}, got {shown(text)}")
    if isinstance(text, int):
        result = text
    else:
        parts = _split_number(text)
        scale = suffixes.get(parts[1].lower()) if parts is not None else None
        if parts is None or scale is None:
            raise SpecError(field, f"cannot read {shown(text)} as a {kind}; write e.g. {examples}")
        value = Fraction(parts[0]) * scale
        if value.denominator != 1:
            raise SpecError(field, f"must be a whole number, got {shown(text)}")
        result = value.numerator
    if result < 1:
        raise SpecError(field, f"must be at least 1, got {shown(text)}")
    return result


def parse_int(text: str) -> int | None:
    """A whole number in ASCII digits (``1_000`` allowed); None for anything else."""
    body = text.strip()
    if not _INTEGER.fullmatch(body) or len(body) > _MAX_DIGITS:
        return None
    return int(body.replace("_", ""))


_INTEGER = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*", re.ASCII)


def parse_count(field: str, text: str | int) -> int:
    """``1M`` → 1_000_000, ``250k`` → 250_000, ``1.5G``, ``1_000_000``; SI (powers of 1000)."""
    return _quantity(field, text, COUNT_SUFFIXES, "count")


def parse_bytes(field: str, text: str | int) -> int:
    """``512MiB`` → 536_870_912, ``2GB`` → 2_000_000_000, ``4096`` → 4096 bytes."""
    return _quantity(field, text, BYTE_SUFFIXES, "byte size")


def format_bytes(size: int) -> str:
    """Binary units as the ``--max-memory`` message prints them: ``1.0 GiB``, ``512.0 MiB``."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    value = float(size)
    for unit in units:
        if value < 1024 or unit == units[-1]:
            return f"{value:,.1f} {unit}" if unit != "B" else f"{size} B"
        value /= 1024
    raise AssertionError("unreachable")


def parse_int_range(field: str, text: str, limit: int = 100_000) -> tuple[int, ...]:
    """Comma-separated items, each a number or a range, in the order given, without repeats.

    ``start:stop:xF`` is geometric (``64:1024:x2`` → 64, 128, ..., 1024), ``start:stop:+S``
    (or ``start:stop:S``) arithmetic; ``stop`` is included when the progression reaches it.
    """
    values: list[int] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise SpecError(field, f"empty item in {shown(text)}")
        values.extend(_range_item(field, item, limit) if ":" in item else [_positive(field, item)])
        if len(values) > limit:
            raise SpecError(field, f"{shown(text)} expands to more than {limit:,} values")
    return tuple(dict.fromkeys(values))


def _positive(field: str, text: str) -> int:
    value = parse_int(text)
    if value is None:
        raise SpecError(field, f"{shown(text)} is not a whole number")
    if value < 1:
        raise SpecError(field, f"must be positive, got {value}")
    return value


def _range_item(field: str, item: str, limit: int) -> list[int]:
    parts = item.split(":")
    if len(parts) != 3:
        raise SpecError(field, f"range {shown(item)} must be start:stop:xFACTOR or start:stop:+STEP")
    start, stop = _positive(field, parts[0]), _positive(field, parts[1])
    if stop < start:
        raise SpecError(field, f"range {shown(item)} ends before it starts")
    step = parts[2].strip()
    if step[:1] in {"x", "*"}:
        factor = _positive(field, step[1:])
        if factor < 2:
            raise SpecError(field, f"range {shown(item)}: the factor must be at least 2")
        out, value = [], start
        while value <= stop:
            out.append(value)
            value *= factor
        return out
    increment = _positive(field, step[1:] if step[:1] == "+" else step)
    if (stop - start) // increment + 1 > limit:  # counted before a single value is built
        raise SpecError(field, f"range {shown(item)} expands to more than {limit:,} values")
    return list(range(start, stop + 1, increment))


def parse_lengths(field: str, text: str, path: str | None = None) -> tuple[int, ...]:
    """Sequence lengths: ``12,30,7``, or, with ``path``, the content of that file: numbers
    separated by commas, spaces or newlines (``#`` starts a comment), errors naming
    ``path:line``. At most :data:`~rnncalc.core.limits.MAX_LENGTHS` lengths.

    Reading ``@path`` is the caller's (:func:`rnncalc.io.text.read_lengths`): the core reads no file.
    """
    lengths: list[int] = []

    def add(token: str, where: str) -> None:
        try:
            lengths.append(_positive(field, token))
        except SpecError as error:
            raise SpecError(field, f"{where}{error.message}") from None
        if len(lengths) > MAX_LENGTHS:
            raise SpecError(field, f"{where}more than {MAX_LENGTHS:,} lengths")

    if path is not None:
        for number, line in enumerate(text.split("\n"), start=1):
            for token in line.split("#", 1)[0].replace(",", " ").split():
                add(token, f"{printable(path)}:{number}: ")
        if not lengths:
            raise SpecError(field, f"{printable(path)} holds no lengths")
        return tuple(lengths)
    for token in text.replace(" ", ",").split(","):
        if token:
            add(token, "")
    if not lengths:
        raise SpecError(field, "give at least one length, e.g. 12,30,7")
    return tuple(lengths)


def human(value: int | float, unit: str = "") -> str:
    """``1234567`` → ``1.23 M``; binary prefixes for bytes (``unit="B"`` → ``MiB``)."""
    if unit == "B":
        steps, prefixes = 1024.0, ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    else:
        steps, prefixes = 1000.0, ["", "k", "M", "G", "T", "P"]
    scaled = float(value)
    index = 0
    while abs(scaled) >= steps and index < len(prefixes) - 1:
        scaled /= steps
        index += 1
    if unit == "B":
        return f"{scaled:.0f} B" if index == 0 else f"{scaled:.2f} {prefixes[index]}"
    text = f"{scaled:.0f}" if index == 0 else f"{scaled:.2f} {prefixes[index]}"
    return f"{text}{unit}".strip()
