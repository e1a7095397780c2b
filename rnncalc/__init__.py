"""rnncalc: parameters, weight shapes and output shapes of recurrent layers in every framework it knows.

The public API imports nothing heavy: no numpy, torch, tensorflow or keras.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from rnncalc.core.spec import Spec
    from rnncalc.notebook import Shown

__all__ = ["__version__", "analyze", "load_ipython_extension", "show"]


def analyze(spec: Spec | Mapping[str, Any]) -> dict[str, Any]:
    """Return exactly the document ``rnncalc summary --format json -F all`` prints for ``spec``:
    every registered framework under ``frameworks.<name>``."""
    from rnncalc.analysis import analyze as analyze_spec

    return analyze_spec(spec).to_dict()


def show(subject: Any = None, /, *, unroll: int | None = None, **fields: Any) -> Shown:
    """Tables and the stack diagram for notebooks (see :func:`rnncalc.notebook.show`)."""
    from rnncalc.notebook import show as show_subject

    return show_subject(subject, unroll=unroll, **fields)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext rnncalc``: registers the ``%rnncalc`` line magic."""
    from rnncalc.notebook import load_ipython_extension as load

    load(ipython)
