"""Source code of runnable scripts that build a spec's exact model in each chosen framework.

Each framework module writes its own script (:meth:`Convention.snippet`); this module only
checks what every script needs and collects them. Pure: imports no framework; the scripts do.
"""

from __future__ import annotations

from collections.abc import Iterable

from rnncalc import frameworks
from rnncalc.core.errors import SpecError
from rnncalc.core.model import Model
from rnncalc.core.spec import Spec


def snippet(spec: Spec, framework: str) -> str:
    """The script for one framework (a comment when it cannot build ``spec``)."""
    if spec.input_size is None:
        raise SpecError("input_size", "is required to write code that builds the model")
    return frameworks.get(framework).snippet(spec)


def snippets(spec: Spec, names: Iterable[str] | None = None) -> dict[str, str]:
    """One script per chosen framework (registry names; None: every registered one)."""
    return {convention.name: snippet(spec, convention.name) for convention in frameworks.select(names)}


def model_snippets(model: Model, names: Iterable[str] | None = None) -> dict[str, str]:
    """One script per chosen framework for a config file's model: a flat one as
    :func:`snippets` writes it, a whole model (:meth:`Convention.model_snippet`) named as
    ``model_report`` names its weights."""
    if model.is_flat:
        return snippets(model.layers[0], names)
    if model.input_size is None:
        raise SpecError("input_size", "is required to write code that builds the model")
    return {convention.name: convention.model_snippet(model) for convention in frameworks.select(names)}
