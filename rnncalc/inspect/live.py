"""Models in memory: ``rnncalc.inspect(module)`` and ``rnncalc.convert(module, ...)``.

A live object is read as the file it would be saved to is read (a PyTorch module as its
``state_dict()``, a Keras model as its ``.keras`` file, an ONNX ``ModelProto`` as its ``.onnx``
file), so its inspection is the document ``rnncalc inspect --format json`` gives for that file,
except for the file's own facts: ``file`` is ``<ClassName>`` and ``format`` the kind of object
(``torch.nn.Module``), and for what only the object knows (a PyTorch module's types and
arguments: an ``nn.RNN``'s nonlinearity, the modules rnncalc does not describe, named).

The object is recognised by the packages its class and its bases come from (each convention's
``object_packages``), the first of its classes that one names deciding: no framework is
imported to tell, and the convention that reads it imports only its own framework, which the
object's existence has imported already. The tensors are served in place (views of the
framework's arrays), one at a time, as a file's are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from rnncalc.frameworks.inspection import Inspection, LiveObject, type_name

if TYPE_CHECKING:
    from rnncalc.frameworks.contract import FrameworkConvention
    from rnncalc.io.tensor_data import TensorFormat


def convention_of(obj: Any) -> FrameworkConvention:
    """The convention that reads ``obj``: the first class of its method resolution order that
    comes from a package some convention names; :class:`TypeError` naming the type otherwise."""
    from rnncalc.frameworks import CONVENTIONS

    for cls in type(obj).__mro__:
        package = cls.__module__.partition(".")[0]
        found = next((c for c in CONVENTIONS if package in c.object_packages), None)
        if found is not None:
            return found
    kinds = ", ".join(c.objects for c in CONVENTIONS if c.objects)
    raise TypeError(f"rnncalc reads a file path or a model ({kinds}), not {type_name(obj)}")


def read_object(obj: Any) -> LiveObject:
    """``obj`` read by its convention (see the module's docstring)."""
    return convention_of(obj).read_object(obj)


def inspected(path: str) -> Inspection:
    """The inspection of the file at ``path``, or of the model a notebook lends under that name."""
    from rnncalc.inspect.formats import read_file
    from rnncalc.inspect.infer import inspect_contents

    obj = lent(path)
    return read_object(obj).inspection if obj is not None else inspect_contents(path, read_file(path))


#: Names a notebook lends the commands it runs (``%rnncalc inspect model``): its namespace.
LENT: ContextVar[Mapping[str, Any]] = ContextVar("LENT", default=MappingProxyType({}))


def lent(path: str) -> Any | None:
    """The model in memory a notebook lends under the name ``path``: a Python identifier that
    names no file, bound in :data:`LENT` to something other than a path; else None."""
    if not path.isidentifier() or os.path.exists(path):
        return None
    value = LENT.get().get(path)
    return None if value is None or isinstance(value, (str, os.PathLike)) else value


def live_format(live: LiveObject) -> TensorFormat:
    """The tensor format ``rnncalc convert`` reads ``live`` through: that of the file it would be
    saved as, opening the object's own tensors."""
    from rnncalc import frameworks

    convention = frameworks.get(live.inspection.convention)
    saved = next(found for found in convention.tensor_formats() if found.name == live.saved_as)
    return replace(
        saved,
        name=live.inspection.format,
        description=f"{live.inspection.format} in memory",
        suffixes=(),
        open=lambda _: live.data,
        target="",
        write=None,
        run_file=None,  # no file: verify runs the model rnncalc rebuilds
    )
