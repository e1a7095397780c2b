"""What a weight file holds, independent of its format: named tensor shapes, and read errors.

Every reader in :mod:`rnncalc.io` returns a :class:`FileContents`; the convention whose names
the tensors follow finds the recurrent layers in it (:mod:`rnncalc.inspect.infer`). No reader keeps tensor
data: names, shapes and dtypes only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rnncalc.core.errors import FrameworkMissingError, RnncalcError


class WeightFileError(RnncalcError, ValueError):
    """A file that cannot be read as the weight file it claims to be: ``file: message``."""

    def __init__(self, file: str, message: str) -> None:
        super().__init__(f"{file}: {message}")
        self.file = file
        self.message = message


@dataclass(frozen=True)
class Tensor:
    """One named tensor: its shape and dtype as the file states them."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Node:
    """An ONNX node: its inputs and outputs by position and (recurrent operators and those that
    say what a part does: :data:`~rnncalc.io.onnx_file.ATTRIBUTE_OPS`) its attributes."""

    name: str
    op_type: str
    inputs: tuple[str, ...]
    attributes: Mapping[str, Any]
    outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileContents:
    """A weight file's tensors, with what else its format records about the model.

    ``format`` names the format the file was read as (a
    :class:`~rnncalc.io.weight_format.WeightFormat`'s name, set by
    :func:`rnncalc.inspect.formats.read_file`: a reader knows its bytes, not its name).
    ``config`` is a Keras model config (``model.to_json()``'s document) when the file has one;
    ``nodes`` the nodes of an ONNX graph. ``from_config`` is True when the file holds
    a config but no weights (a Keras model JSON), so weights must be derived from the config.
    ``modules`` is what an archive carrying code records of its modules, by module path
    (``{"rnn": {"type": "torch.nn.modules.rnn.RNN", "nonlinearity": "relu", ...}}``).
    ``order`` names the tensors in the order the model uses them, where the file records it
    (an ONNX graph's nodes), for finding the chain of parts. ``constants`` holds a graph's small
    integer constants (a ``Constant`` node's output, an initializer of a few elements in the
    model file) by name, a scalar as an int: a ``Gather``'s index, a ``Reshape``'s shape.
    """

    tensors: tuple[Tensor, ...]
    format: str = ""
    config: Mapping[str, Any] | None = None
    nodes: tuple[Node, ...] = ()
    notes: tuple[str, ...] = field(default=())
    from_config: bool = False
    modules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    order: tuple[str, ...] = ()
    constants: Mapping[str, int | tuple[int, ...]] = field(default_factory=dict)


def require_module(module: str, hint: str, file: str) -> Any:
    """Import ``module`` (a package the reader of ``file`` needs), or fail with a one-line
    install hint naming the file."""
    from importlib import import_module

    try:
        return import_module(module)
    except ImportError:
        raise FrameworkMissingError(f"{file}: reading it needs {module}: {hint}") from None
