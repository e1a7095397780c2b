"""Find the recurrent layers among a file's tensors: each convention's finder, chosen by the
convention whose names the file's tensors follow."""

from __future__ import annotations

from collections.abc import Callable

from rnncalc.inspect.common import Found
from rnncalc.inspect.keras_config import find_keras
from rnncalc.inspect.model import Inspection
from rnncalc.inspect.onnx_nodes import find_onnx
from rnncalc.inspect.pytorch_names import find_torch
from rnncalc.io.tensors import FileContents


def inspect_contents(file: str, contents: FileContents) -> Inspection:
    """The inspection of one file's contents (see :mod:`rnncalc.io.tensors`)."""
    finder = FINDERS[contents.convention]
    recurrent, notes, tensors, owners = finder(file, contents)
    return Inspection(
        file=file,
        format=contents.format,
        convention=contents.convention,
        tensors=tensors,
        layer_of=owners,
        recurrent=tuple(recurrent),
        notes=(*contents.notes, *notes),
        from_config=contents.from_config,
    )


FINDERS: dict[str, Callable[[str, FileContents], Found]] = {
    "torch": find_torch,
    "keras": find_keras,
    "onnx": find_onnx,
}
