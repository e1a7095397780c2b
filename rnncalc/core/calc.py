"""Pure analytic calculator: a spec and a choice of conventions → each one's report, and why
two of them differ.

Knows no framework: the :class:`~rnncalc.core.convention.Convention` instances are passed in
(the registry in :mod:`rnncalc.frameworks` holds them; :mod:`rnncalc.analysis` passes them).
Imports no framework and no numpy, so ``rnncalc summary`` starts as fast as click.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rnncalc.core.report import (
    Analysis,
    Difference,
    FrameworkReport,
    FrameworkTotals,
    ModelAnalysis,
    Role,
)
from rnncalc.core.spec import GATES as GATES  # re-exported: importers name it from here
from rnncalc.core.spec import Cell, MergeMode, Spec, spec_from_mapping
from rnncalc.core.symbolic import INPUT, Count, Dim

if TYPE_CHECKING:  # only annotations: the flat-spec path never imports model.py
    from rnncalc.core.convention import Convention
    from rnncalc.core.model import Model

#: Fields that only matter for some configurations; others are left out of "defaults used".
_APPLIES: dict[str, Any] = {
    "proj_size": lambda s: s.cell is Cell.LSTM and not s.step,
    "reset_after": lambda s: s.cell is Cell.GRU,
    "nonlinearity": lambda s: s.cell is Cell.RNN,
    "merge_mode": lambda s: s.bidirectional,
    "unbatched": lambda s: False,
    # A cell (step) has no time axis, directions or returned sequence.
    "bidirectional": lambda s: not s.step,
    "batch_first": lambda s: not s.step,
    "return_sequences": lambda s: not s.step,
    "return_state": lambda s: not s.step,
    "input_size": lambda s: False,
    "batch_size": lambda s: False,
    "seq_len": lambda s: False,
    # Keras-only options and the one-step mode: named when given, never as defaults.
    "step": lambda s: False,
    "activation": lambda s: False,
    "recurrent_activation": lambda s: False,
    "go_backwards": lambda s: False,
    "unit_forget_bias": lambda s: False,
    "stateful": lambda s: False,
    "unroll": lambda s: False,
}


def analyze(spec: Spec | Mapping[str, Any], conventions: Sequence[Convention]) -> Analysis:
    """Each convention's report for ``spec`` (a :class:`Spec` or a plain mapping), in order,
    and why the first one's total differs from each other one's."""
    if not isinstance(spec, Spec):
        spec = spec_from_mapping(spec)
    reports = tuple(convention.report(spec) for convention in conventions)
    defaults = tuple(name for name in spec.defaults_used if _APPLIES.get(name, lambda s: True)(spec))
    pairs = [
        explain_difference(spec, conventions[0], other, reports[0], report)
        for other, report in zip(conventions[1:], reports[1:], strict=True)
    ]
    difference = pairs[0] if pairs else None
    return Analysis(spec, reports, difference, defaults, tuple(d for d in pairs if d is not None))


def analyze_totals(
    spec: Spec | Mapping[str, Any], conventions: Sequence[Convention]
) -> tuple[FrameworkTotals, ...]:
    """Each convention's total, outputs and model name for ``spec``, without weight rows.

    Equal to the ``total``/``outputs``/``model``/``reason`` of :func:`analyze`'s reports (a test
    keeps it so), at a fraction of the cost (see :meth:`Convention.totals`).
    """
    if not isinstance(spec, Spec):
        spec = spec_from_mapping(spec)
    return tuple(convention.totals(spec) for convention in conventions)


def analyze_model(model: Model, conventions: Sequence[Convention]) -> ModelAnalysis:
    """Each convention's report for a model, and why the first one's total differs from each
    other one's."""
    reports = tuple(convention.model_report(model) for convention in conventions)
    pairs = [
        explain_model_difference(model, conventions[0], other, reports[0], report)
        for other, report in zip(conventions[1:], reports[1:], strict=True)
    ]
    difference = pairs[0] if pairs else None
    return ModelAnalysis(model, reports, difference, tuple(d for d in pairs if d is not None))


# --- Why the totals differ -----------------------------------------------------------------


def bias_vectors(report: FrameworkReport, spec: Spec) -> int:
    """How many ``gates*H`` bias vectors one direction of the report's first layer keeps,
    read from its weight shapes (so it holds for every framework)."""
    layer = report.layers[0]
    elements = sum(
        w.params.constant for w in layer.weights if w.role is Role.BIAS and w.direction == "forward"
    )
    return elements // (GATES[spec.cell] * spec.hidden_size)


def vectors(count: int) -> str:
    """``two bias vectors``: a bias count in words."""
    words = {0: "no bias vector", 1: "one bias vector", 2: "two bias vectors"}
    return words.get(count, f"{count} bias vectors")


def explain_difference(
    spec: Spec, first: Convention, second: Convention, a: FrameworkReport, b: FrameworkReport
) -> Difference | None:
    """One line on why ``a``'s total differs from ``b``'s, derived from the weights grouped by
    role; the conventions word their bias layouts (:meth:`Convention.bias_note`)."""
    if not (a.supported and b.supported):
        return None
    delta = a.total - b.total
    reasons = []
    a_roles, b_roles = _role_totals(a), _role_totals(b)
    for role in Role:
        role_delta = a_roles[role] - b_roles[role]
        if role_delta == Count():
            continue
        if role is Role.BIAS:
            reasons.append(
                f"{first.bias_note(spec)}, {second.short_title} {vectors(second.bias_count(spec))}"
                f": {_signed(role_delta)}"
            )
        else:
            reasons.append(f"{role.value} differ: {_signed(role_delta)}")
    if reasons:
        return Difference(delta, "; ".join(reasons), first.name, second.name)
    if spec.bias and first.bias_note(spec) != second.bias_note(spec):
        return Difference(delta, f"same total: {second.bias_note(spec)} too", first.name, second.name)
    return Difference(delta, "same total: both frameworks keep the same weights", first.name, second.name)


def _role_totals(report: FrameworkReport) -> dict[Role, Count]:
    """Every role's total in one pass over the weights (same as ``report.role_total(role)``)."""
    sums = {role: [0, 0] for role in Role}
    for weight in report.weights:
        entry = sums[weight.role]
        entry[0] += weight.params.per_input
        entry[1] += weight.params.constant
    return {role: Count(per_input, constant) for role, (per_input, constant) in sums.items()}


def _signed(count: Count) -> str:
    text = str(count)
    return text if text.startswith("-") else f"+{text}"


# --- Heterogeneous models: embedding → recurrent blocks → dense heads ------------------------


def merged_features(spec: Spec) -> int:
    """Features a layer of ``spec`` hands on: doubled only when both directions are concatenated."""
    if spec.bidirectional and spec.merge_mode is MergeMode.CONCAT:
        return 2 * spec.hidden_size
    return spec.hidden_size


def block_inputs(model: Model) -> list[Dim]:
    """The input size of each recurrent block (``I`` when the first one is unknown).

    Frameworks agree on these except after a PyTorch projection, so this is only used where
    that does not matter (the "why they differ" line); each report threads its own.
    """
    sizes: list[Dim] = []
    size: Dim = model.input_size if model.input_size is not None else INPUT
    for spec in model.layers:
        sizes.append(size)
        size = merged_features(spec)
    return sizes


def explain_model_difference(
    model: Model, first: Convention, second: Convention, a: FrameworkReport, b: FrameworkReport
) -> Difference | None:
    """Why the totals differ, block by block (embedding and dense heads count the same)."""
    if not (a.supported and b.supported):
        return None
    reasons = []
    for index, (spec, size) in enumerate(zip(model.layers, block_inputs(model), strict=True)):
        block = spec if not isinstance(size, int) else spec.replace(input_size=size)
        difference = explain_difference(block, first, second, first.report(block), second.report(block))
        if difference is not None and difference.delta != Count():
            reasons.append(f"layers[{index}] ({spec.cell.value}): {difference.reason}")
    reason = "; ".join(reasons) if reasons else "same total: every block keeps the same weights"
    return Difference(a.total - b.total, reason, first.name, second.name)
