"""Which reader a file needs: the registry's weight formats, by extension, else by first bytes.

Every :class:`~rnncalc.core.convention.Convention` lists the formats whose tensors follow its
names (:meth:`~rnncalc.core.convention.Convention.weight_formats`); this module only chooses
among them.
"""

from __future__ import annotations

import os.path
from dataclasses import replace

from rnncalc.io.tensors import FileContents, WeightFileError
from rnncalc.io.weight_format import WeightFormat


def weight_formats() -> tuple[WeightFormat, ...]:
    """Every format some registered convention reads, in registry order."""
    from rnncalc.frameworks import CONVENTIONS

    return tuple(found for convention in CONVENTIONS for found in convention.weight_formats())


def format_title(name: str) -> str:
    """How a heading names the format called ``name`` ("Keras 3 .keras file"); the name itself
    for a format no convention declares."""
    return next((found.title for found in weight_formats() if found.name == name), name)


def read_file(path: str) -> FileContents:
    """The contents of the weight file at ``path``, read by the reader its format needs."""
    chosen = choose_format(path)
    return replace(chosen.read(path), format=chosen.name)


def choose_format(path: str) -> WeightFormat:
    """The format of the weight file at ``path``: by its suffix, else by its first bytes."""
    if not os.path.isfile(path):
        raise WeightFileError(path, "no such file" if not os.path.exists(path) else "not a regular file")
    formats = weight_formats()
    suffix = os.path.splitext(path)[1].lower()
    return next((found for found in formats if suffix in found.suffixes), None) or _sniff(path, formats)


def _sniff(path: str, formats: tuple[WeightFormat, ...]) -> WeightFormat:
    """The format whose first bytes the file starts with; formats with a magic number are tried
    before those recognised by a guess (a safetensors header length)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    candidates = sorted((found for found in formats if found.recognisable), key=lambda found: not found.magic)
    for found in candidates:
        if head.startswith(found.magic) and (found.sniff is None or found.sniff(path, head)):
            return found
    known = ", ".join(sorted(suffix for found in formats for suffix in found.suffixes))
    raise WeightFileError(path, f"unknown file type; rnncalc inspect reads {known}")
