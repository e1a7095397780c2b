"""rnncalc: parameters, weight shapes and output shapes of recurrent layers in every framework it knows.

The public API imports nothing heavy: no numpy, torch, tensorflow or keras.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rnncalc.core.version import __version__

if TYPE_CHECKING:
    from rnncalc.core.spec import Spec
    from rnncalc.notebook import Shown

__all__ = ["__version__", "analyze", "convert", "inspect", "load_ipython_extension", "show"]


def analyze(spec: Spec | Mapping[str, Any]) -> dict[str, Any]:
    """Return exactly the document ``rnncalc summary --format json -F all`` prints for ``spec``:
    every registered framework under ``frameworks.<name>``."""
    from rnncalc.analysis import analyze as analyze_spec

    return analyze_spec(spec).to_dict()


def inspect(source: str | os.PathLike[str] | Any, /) -> dict[str, Any]:
    """The document ``rnncalc inspect FILE --format json`` prints for ``source``: a weight file's
    path, or a model in memory (a PyTorch ``nn.Module``, a Keras model or layer, a Flax
    ``nnx.Module``, an ``onnx.ModelProto``), which gives the document of the file it would be
    saved to, with ``file`` ``<ClassName>`` and ``format`` its kind (see
    :mod:`rnncalc.inspect.live`)."""
    from rnncalc.inspect.chain import document
    from rnncalc.inspect.live import inspected, read_object

    if isinstance(source, (str, os.PathLike)):
        return document(inspected(os.fspath(source)))
    return document(read_object(source).inspection)


def convert(
    source: str | os.PathLike[str] | Any,
    destination: str | os.PathLike[str],
    /,
    *,
    to: str | None = None,
    force: bool = False,
    nonlinearity: str | None = None,
    part: str | Sequence[str] = (),
    model: str | os.PathLike[str] | None = None,
    verify: bool = False,
) -> dict[str, Any]:
    """``rnncalc convert SRC -o DST``: the recurrent stack or whole model of ``source`` (a path,
    or a model in memory as :func:`inspect` takes) written to ``destination``, the file
    converting the saved object writes. Options as the command's flags (``part``: names, a list
    or comma-separated; ``model``: a config file's path); returns what was written
    (``tensors``, ``params``, the stack's ``spec`` or the whole ``model`` as a config file holds
    it, the source's ``notes`` and short ``assumptions``) and, with ``verify``, the
    ``largest_difference`` of source and destination on one random input (else None) and how
    each ``verified`` (``{"source": "file run by Keras", "target": "rebuilt in PyTorch (read as
    weights only)"}``: the file itself where it holds a graph, else the model rnncalc rebuilt)."""
    from rnncalc.convert import write_plan
    from rnncalc.convert.plan import make_plan, object_source
    from rnncalc.core.model import LAYER_FIELDS, model_config
    from rnncalc.core.spec import Nonlinearity
    from rnncalc.io.config import load_model

    parts = tuple(part.split(",")) if isinstance(part, str) else tuple(part)
    stated = load_model(os.fspath(model), "model") if model is not None else None
    read = (
        os.fspath(source) if isinstance(source, (str, os.PathLike)) else object_source(source, parts, stated)
    )
    chosen = Nonlinearity(nonlinearity) if nonlinearity else None
    plan = make_plan(
        read, os.fspath(destination), to, force=force, nonlinearity=chosen, part=parts, model=stated
    )
    done = write_plan(plan, force=force)
    difference, verified = None, None
    if verify:
        from rnncalc.convert.verify import compare

        result = compare(plan)
        difference, verified = result.difference, {"source": result.source, "target": result.target}
    spec = plan.spec.to_dict()
    whole = plan.source.model
    return {
        "destination": plan.destination,
        "format": plan.target.description,
        "source_convention": plan.source.convention.name,
        "spec": {name: spec[name] for name in LAYER_FIELDS} if whole is None else None,
        "model": model_config(whole) if whole is not None else None,
        "assumptions": list(plan.source.assumptions),
        "tensors": done.tensors,
        "params": done.params,
        "notes": list(plan.source.notes),
        "largest_difference": difference,
        "verified": verified,
    }


def show(subject: Any = None, /, *, unroll: int | None = None, **fields: Any) -> Shown:
    """Tables and the stack diagram for notebooks (see :func:`rnncalc.notebook.show`)."""
    from rnncalc.notebook import show as show_subject

    return show_subject(subject, unroll=unroll, **fields)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext rnncalc``: registers the ``%rnncalc`` line magic."""
    from rnncalc.notebook import load_ipython_extension as load

    load(ipython)


#: API functions named as subpackages: importing ``rnncalc.inspect.formats`` sets the attribute
#: ``rnncalc.inspect`` to the subpackage, which then calls the function (:class:`_Package`).
_FUNCTIONS: dict[str, Callable[..., Any]] = {"inspect": inspect, "convert": convert}


class _Callable(types.ModuleType):
    """A subpackage that is also the API function of its name: ``rnncalc.inspect(model)``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _FUNCTIONS[self.__name__.rpartition(".")[2]](*args, **kwargs)


class _Package(types.ModuleType):
    """``rnncalc`` itself: makes each subpackage named like an API function callable as it
    becomes an attribute, so ``rnncalc.inspect(...)`` works before and after it is imported."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _FUNCTIONS and isinstance(value, types.ModuleType):
            value.__class__ = _Callable
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
