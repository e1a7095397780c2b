"""Parse the quantities users type: budgets (``1M``, ``1.5G``), byte sizes (``512MiB``),
value ranges (``64:1024:x2``) and sequence lengths (``12,30,7`` or ``@file``).

Pure string handling; every error is a :class:`~rnncalc.core.errors.SpecError` naming the field.
"""

from __future__ import annotations

from fractions import Fraction

from rnncalc.core.errors import SpecError

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


def _split_number(text: str) -> tuple[str, str]:
    """``"1.5GiB"`` → ``("1.5", "GiB")``; ``_`` and ``,`` between digits are allowed."""
    body = text.strip().replace("_", "").replace(",", "")
    end = 0
    while end < len(body) and (body[end].isdigit() or body[end] == "."):
        end += 1
    return body[:end], body[end:].strip()


def _quantity(field: str, text: str | int, suffixes: dict[str, int], kind: str) -> int:
    if isinstance(text, bool):
        raise SpecError(field, f"must be a {kind}, got {text!r}")
    if isinstance(text, int):
        result = text
    else:
        number, suffix = _split_number(text)
        scale = suffixes.get(suffix.lower())
        if not number or number == "." or scale is None or number.count(".") > 1:
            examples = "1M, 250k, 1.5G, 1_000_000" if kind == "count" else "512MiB, 2GB, 1.5G, 4096"
            raise SpecError(field, f"cannot read {text!r} as a {kind}; write e.g. {examples}")
        value = Fraction(number) * scale
        if value.denominator != 1:
            raise SpecError(field, f"must be a whole number, got {text!r}")
        result = value.numerator
    if result < 1:
        raise SpecError(field, f"must be at least 1, got {text!r}")
    return result


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
            raise SpecError(field, f"empty item in {text!r}")
        values.extend(_range_item(field, item) if ":" in item else [_positive(field, item)])
        if len(values) > limit:
            raise SpecError(field, f"{text!r} expands to more than {limit:,} values")
    return tuple(dict.fromkeys(values))


def _positive(field: str, text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise SpecError(field, f"{text!r} is not a whole number") from None
    if value < 1:
        raise SpecError(field, f"must be positive, got {value}")
    return value


def _range_item(field: str, item: str) -> list[int]:
    parts = item.split(":")
    if len(parts) != 3:
        raise SpecError(field, f"range {item!r} must be start:stop:xFACTOR or start:stop:+STEP")
    start, stop = _positive(field, parts[0]), _positive(field, parts[1])
    if stop < start:
        raise SpecError(field, f"range {item!r} ends before it starts")
    step = parts[2].strip()
    if step[:1] in {"x", "*"}:
        factor = _positive(field, step[1:])
        if factor < 2:
            raise SpecError(field, f"range {item!r}: the factor must be at least 2")
        out, value = [], start
        while value <= stop:
            out.append(value)
            value *= factor
        return out
    increment = _positive(field, step[1:] if step[:1] == "+" else step)
    return list(range(start, stop + 1, increment))


def parse_lengths(field: str, text: str) -> tuple[int, ...]:
    """Sequence lengths: ``12,30,7``, or ``@path`` naming a file of numbers separated by commas,
    spaces or newlines (``#`` starts a comment); errors in a file name ``path:line``."""
    if text.startswith("@"):
        path = text[1:]
        try:
            with open(path, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except OSError as error:
            raise SpecError(field, f"cannot read {path}: {error.strerror}") from None
        lengths: list[int] = []
        for number, line in enumerate(lines, start=1):
            for token in line.split("#", 1)[0].replace(",", " ").split():
                try:
                    lengths.append(_positive(field, token))
                except SpecError as error:
                    raise SpecError(field, f"{path}:{number}: {error.message}") from None
        if not lengths:
            raise SpecError(field, f"{path} holds no lengths")
        return tuple(lengths)
    tokens = [token for token in text.replace(" ", ",").split(",") if token]
    if not tokens:
        raise SpecError(field, "give at least one length, e.g. 12,30,7")
    return tuple(_positive(field, token) for token in tokens)


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
