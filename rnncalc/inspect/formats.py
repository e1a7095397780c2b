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
    """The format of the weight file at ``path``: by its suffix (the longest that matches, in any
    case), else by its first bytes; a file whose suffix's format shares its magic number with
    others is read as the first of them its content matches (a TorchScript archive named
    ``.pt``), and a directory as the format that recognises it (a sharded checkpoint)."""
    formats = weight_formats()
    if os.path.isdir(path):
        found = next((found for found in formats if found.directory and found.directory(path)), None)
        if found is not None:
            return found
    if not os.path.isfile(path):
        raise WeightFileError(path, "no such file" if not os.path.exists(path) else "not a regular file")
    name = os.path.basename(path).lower()
    by_suffix = sorted(
        (found for found in formats if any(name.endswith(suffix) for suffix in found.suffixes)),
        key=lambda found: -max(len(suffix) for suffix in found.suffixes if name.endswith(suffix)),
    )
    if not by_suffix:
        return _sniff(path, formats)
    return _by_content(path, by_suffix[0], formats)


def _by_content(path: str, chosen: WeightFormat, formats: tuple[WeightFormat, ...]) -> WeightFormat:
    """``chosen``, unless its sniff rejects the file (or it has none) and the sniff of another
    format with the same magic number accepts it."""
    if not chosen.magic:
        return chosen
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    if not head.startswith(chosen.magic) or _accepts(chosen, path, head):
        return chosen
    others = (found for found in formats if found.magic == chosen.magic and found is not chosen)
    return next(
        (found for found in others if found.sniff is not None and _accepts(found, path, head)), chosen
    )


def _accepts(found: WeightFormat, path: str, head: bytes) -> bool:
    """True when ``found``'s sniff accepts the file; a file its sniff cannot read is left to
    the reader of the format its suffix names, whose error says why."""
    try:
        return found.sniff is not None and found.sniff(path, head)
    except WeightFileError:
        return False


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
