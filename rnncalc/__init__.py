"""rnncalc: parameters, weight shapes and output shapes of recurrent layers in every framework it knows.

The public API imports nothing heavy: no numpy, torch, tensorflow or keras.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from rnncalc.core.spec import Spec

__all__ = ["__version__", "analyze"]


def analyze(spec: Spec | Mapping[str, Any]) -> dict[str, Any]:
    """Return exactly the document ``rnncalc summary --format json -F all`` prints for ``spec``:
    every registered framework under ``frameworks.<name>``."""
    from rnncalc.analysis import analyze as analyze_spec

    return analyze_spec(spec).to_dict()
