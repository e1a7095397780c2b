"""Find the recurrent layers among a file's tensors: asked of the registered convention that
reads the file's format (:meth:`~rnncalc.frameworks.contract.FrameworkConvention.find_layers`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rnncalc.frameworks.inspection import Inspection
from rnncalc.io.tensors import FileContents

if TYPE_CHECKING:
    from rnncalc.frameworks.contract import FrameworkConvention


def convention_for(contents: FileContents) -> FrameworkConvention:
    """The registered convention whose names the tensors of ``contents`` follow."""
    from rnncalc.frameworks import CONVENTIONS

    found = next((convention for convention in CONVENTIONS if convention.reads(contents)), None)
    if found is None:
        raise ValueError(f"no registered convention reads the format {contents.format!r}")
    return found


def inspect_contents(file: str, contents: FileContents) -> Inspection:
    """The inspection of one file's contents (see :mod:`rnncalc.io.tensors`)."""
    convention = convention_for(contents)
    recurrent, notes, tensors, owners = convention.find_layers(file, contents)
    return Inspection(
        file=file,
        format=contents.format,
        convention=convention.name,
        tensors=tensors,
        layer_of=owners,
        recurrent=tuple(recurrent),
        notes=(*contents.notes, *notes),
        from_config=contents.from_config,
        order=contents.order,
        recorded=convention.recorded_parts(contents),
    )
