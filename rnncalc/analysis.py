"""The calculator over the registry: a spec or model → the chosen frameworks' reports.

:mod:`rnncalc.core.calc` knows no framework (the conventions are passed in); this module passes
the registered ones, so every command and the public API share one entry point.
``frameworks`` is a list of registry names (validated); None means every registered one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from rnncalc import frameworks
from rnncalc.core import calc

if TYPE_CHECKING:
    from rnncalc.core.model import Model
    from rnncalc.core.report import Analysis, FrameworkTotals, ModelAnalysis
    from rnncalc.core.spec import Spec


def analyze(spec: Spec | Mapping[str, Any], names: Iterable[str] | None = None) -> Analysis:
    """Each chosen framework's report for ``spec`` and why the first two differ."""
    return calc.analyze(spec, frameworks.select(names))


def analyze_totals(
    spec: Spec | Mapping[str, Any], names: Iterable[str] | None = None
) -> tuple[FrameworkTotals, ...]:
    """Each chosen framework's total, outputs and model name, without weight rows."""
    return calc.analyze_totals(spec, frameworks.select(names))


def analyze_model(model: Model, names: Iterable[str] | None = None) -> ModelAnalysis:
    """Each chosen framework's report for a heterogeneous model and why the first two differ."""
    return calc.analyze_model(model, frameworks.select(names))
