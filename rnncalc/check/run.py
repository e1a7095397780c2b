"""Run checks: judge each target's expectations analytically, then cross-check the real frameworks.

Imports no framework itself: each convention's ``measure`` imports its framework at first use,
so checking many targets in one run imports each framework once, and ``--against none``
never imports any.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rnncalc import frameworks as registry
from rnncalc.analysis import analyze_model, analyze_totals
from rnncalc.check.crosscheck import crosscheck
from rnncalc.check.model import CheckReport, CheckTarget, Status, TargetResult, evaluate
from rnncalc.core.calc import GATES
from rnncalc.core.convention import Convention
from rnncalc.core.errors import SpecError
from rnncalc.core.model import Model, override
from rnncalc.core.report import FrameworkReport
from rnncalc.core.spec import Spec
from rnncalc.core.units import format_bytes
from rnncalc.frameworks.adapter import PROBE_BATCH, PROBE_SEQ_LEN, probe_spec, quiet

DEFAULT_MAX_MEMORY = 2**30  # 1 GiB
BYTES_PER_PARAM = 4  # float32, both frameworks' default dtype


@dataclass(frozen=True)
class CheckOptions:
    """How to run: which frameworks to judge (``-F``) and cross-check (``--against``, always
    judged too), whether a skip fails, the memory limit. Names are registry names."""

    against: tuple[str, ...] = ()
    require: bool = False
    max_memory: int = DEFAULT_MAX_MEMORY
    frameworks: tuple[str, ...] = field(default_factory=registry.default_names)

    @property
    def judged(self) -> tuple[str, ...]:
        """The frameworks whose numbers are judged: ``-F`` and ``--against``, in registry order."""
        chosen = set(self.frameworks) | set(self.against)
        return tuple(name for name in registry.names() if name in chosen)


def run_check(targets: Iterable[CheckTarget], options: CheckOptions) -> CheckReport:
    """Check every target; raises :class:`SpecError` for input that cannot be checked at all."""
    return CheckReport(tuple(check_target(target, options) for target in targets), options.require)


def check_target(target: CheckTarget, options: CheckOptions) -> TargetResult:
    if target.model is not None:
        return check_model_target(target, target.model, options)
    spec = target.spec
    result = evaluate(target, analyze_totals(spec, options.judged))
    if options.against and spec.input_size is None:
        raise SpecError("input_size", "is required to build the real models (or check with --against none)")
    for framework in options.against:
        result = _cross(result, framework, options)
    return result


@dataclass(frozen=True)
class MemoryNeed:
    """Float32 bytes to build a spec's model and run its probe forward pass (an estimate)."""

    weights: int
    forward: int  # the input, each layer's gate pre-activations and outputs

    @property
    def total(self) -> int:
        return self.weights + self.forward


def memory_need(probe: Spec, params: int) -> MemoryNeed:
    """Weights exactly; activations as ``B*T`` times (input + per layer: gates*H*dirs + outputs)."""
    assert (probe.seq_len is not None or probe.step) and probe.input_size is not None
    seq_len = 1 if probe.step else probe.seq_len or 1  # a cell runs one step
    steps = seq_len * (1 if probe.unbatched else (probe.batch_size or 1))
    out = probe.num_directions * (probe.proj_size or probe.hidden_size)
    per_layer = probe.num_directions * GATES[probe.cell] * probe.hidden_size + out
    values = steps * (probe.input_size + probe.num_layers * per_layer)
    return MemoryNeed(BYTES_PER_PARAM * params, BYTES_PER_PARAM * values)


#: Batch and time of the real forward pass at most. Output shapes are the analysis's formula
#: in B and T, so a short probe proves the formula as well as the full input would, in
#: milliseconds instead of a million steps (or a 12.8 GB activation for 20,000 x 20,000).
PROBE_MAX_BATCH = 8
PROBE_MAX_SEQ_LEN = 8


def _bounded_probe(spec: Spec) -> Spec:
    """:func:`probe_spec` with batch and time capped for the forward pass."""
    probe = probe_spec(spec)
    changes = {}
    if probe.batch_size is not None and probe.batch_size > PROBE_MAX_BATCH:
        changes["batch_size"] = PROBE_MAX_BATCH
    if probe.seq_len is not None and probe.seq_len > PROBE_MAX_SEQ_LEN:
        changes["seq_len"] = PROBE_MAX_SEQ_LEN
    return probe.replace(**changes) if changes else probe


def _probe_note(spec: Spec, probe: Spec) -> str | None:
    if (spec.batch_size, spec.seq_len) == (probe.batch_size, probe.seq_len) or (
        spec.batch_size is None and spec.seq_len is None
    ):
        return None
    return (
        f"forward pass run at batch {probe.batch_size}, {probe.seq_len} steps "
        "(shapes follow the same formula at every size)"
    )


def _unavailable(
    result: TargetResult, convention: Convention, report: FrameworkReport
) -> TargetResult | None:
    """The result when the framework cannot express the model or is not installed, else None."""
    if not report.supported:
        return result.with_crosscheck(convention.name, Status.NOT_EXPRESSIBLE, report.reason)
    if not convention.is_installed():
        reason = f"{convention.name} is not installed; {convention.install_hint}"
        return result.with_crosscheck(convention.name, Status.SKIPPED, reason)
    return None


def _cross(result: TargetResult, framework: str, options: CheckOptions) -> TargetResult:
    convention = registry.get(framework)
    probe = _bounded_probe(result.target.spec)
    report = convention.report(probe)
    unavailable = _unavailable(result, convention, report)
    if unavailable is not None:
        return unavailable
    need = memory_need(probe, report.total.value)
    over = _over_memory(need, options.max_memory)
    device = "cpu"
    if over is not None:
        if not convention.meta_device:
            reason = f"{over}; {convention.short_title} has no meta device to build a model without memory"
            return result.with_crosscheck(framework, Status.SKIPPED, reason)
        device = "meta"
    try:
        with quiet():
            measured = convention.measure(probe, device=device)
    except RecursionError:
        return result.with_crosscheck(
            framework, Status.SKIPPED, _too_deep_for(convention.title, probe.num_layers)
        )
    except Exception as error:  # the real framework refused what the analysis says it accepts
        reason = f"{convention.title} raised {type(error).__name__}: {error}"
        return result.with_crosscheck(framework, Status.MISMATCH, reason)
    check = crosscheck(convention.report(measured.probe), measured)
    notes = [
        f"built on the meta device (no memory allocated): {over}" if over else None,
        _probe_note(probe_spec(result.target.spec), measured.probe),
        check.note,
    ]
    note = "; ".join(n for n in notes if n) or None
    return result.with_crosscheck(framework, Status.OK if check.ok else Status.MISMATCH, note, check)


def _over_memory(need: MemoryNeed, limit: int) -> str | None:
    """``weights would need 3.3 TiB > --max-memory 1.0 GiB``, or None when the model fits."""
    if need.total <= limit:
        return None
    if need.weights > limit:
        what, amount = "weights", need.weights
    else:
        what, amount = "weights and the forward pass", need.total
    return f"{what} would need {format_bytes(amount)} > --max-memory {format_bytes(limit)}"


# --- Heterogeneous models (config files) ---------------------------------------------------


def check_model_target(target: CheckTarget, model: Model, options: CheckOptions) -> TargetResult:
    """Like :func:`check_target` for a model with an embedding, several blocks or dense heads.

    The real models are each convention's ``measure_model``; there is no meta-device
    fallback, so a model whose weights exceed ``max_memory`` is skipped in both frameworks.
    """
    result = evaluate(target, analyze_model(model, options.judged).frameworks)
    if options.against and model.input_size is None:
        raise SpecError("input_size", "is required to build the real models (or check with --against none)")
    for framework in options.against:
        result = _cross_model(result, model, framework, options)
    return result


def _cross_model(result: TargetResult, model: Model, framework: str, options: CheckOptions) -> TargetResult:
    convention = registry.get(framework)
    probe = override(
        model,
        {
            "batch_size": min(model.batch_size or PROBE_BATCH, PROBE_MAX_BATCH),
            "seq_len": min(model.seq_len or PROBE_SEQ_LEN, PROBE_MAX_SEQ_LEN),
        },
    )
    report = convention.model_report(probe)
    unavailable = _unavailable(result, convention, report)
    if unavailable is not None:
        return unavailable
    need = _model_memory_need(probe, report.total.value)
    over = _over_memory(need, options.max_memory)
    if over is not None:
        return result.with_crosscheck(framework, Status.SKIPPED, over)
    try:
        with quiet():
            measured = convention.measure_model(probe)
    except RecursionError:
        stacked = sum(layer.num_layers for layer in probe.layers)
        return result.with_crosscheck(framework, Status.SKIPPED, _too_deep_for(convention.title, stacked))
    except Exception as error:  # the real framework refused what the analysis says it accepts
        reason = f"{convention.title} raised {type(error).__name__}: {error}"
        return result.with_crosscheck(framework, Status.MISMATCH, reason)
    check = crosscheck(report, measured)
    notes = [_probe_note(model.layers[0], measured.probe), check.note]
    note = "; ".join(n for n in notes if n) or None
    return result.with_crosscheck(framework, Status.OK if check.ok else Status.MISMATCH, note, check)


def _model_memory_need(probe: Model, params: int) -> MemoryNeed:
    """Weights, plus the forward pass of every recurrent block (each as :func:`memory_need`
    counts it) and of the embedding and heads, for the probe's batch and time."""
    steps = (probe.batch_size or 1) * (probe.seq_len or 1)
    values = 0
    for layer in probe.layers:
        values += memory_need(layer.replace(input_size=layer.input_size or 1), 0).forward // BYTES_PER_PARAM
    if probe.embedding is not None:
        values += steps * probe.embedding.dim
    values += steps * sum(head.units for head in probe.dense)
    return MemoryNeed(BYTES_PER_PARAM * params, BYTES_PER_PARAM * values)


def _too_deep_for(title: str, layers: int) -> str:
    """Why a stack was not cross-checked: the framework recursed too deep building it.

    Keras 3 builds a stack of layers recursively: 1,024 bidirectional LSTM layers raise
    RecursionError after about two minutes. That is a limit of the framework, not a count
    that differs, so the check is skipped (a failure under ``--require``), not a mismatch.
    """
    return f"{title} cannot build {layers:,} stacked layers (RecursionError in the framework)"
