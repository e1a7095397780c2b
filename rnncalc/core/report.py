"""Result objects of an analysis and their stable JSON form (``schema_version`` 1).

Immutable :class:`~rnncalc.core.frozen.Frozen` values rather than frozen dataclasses, which would
cost ``rnncalc summary`` about 2 ms of code generation at every start.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

from rnncalc.core.frozen import Frozen
from rnncalc.core.spec import Spec
from rnncalc.core.symbolic import Count, Shape, shape_count, shape_to_json, total

if TYPE_CHECKING:  # only annotations: the flat-spec path never imports model.py
    from rnncalc.core.model import Model

SCHEMA_VERSION = 1
ZERO = Count(0, 0)


class Role(str, Enum):
    """What a weight tensor does; used to explain where two frameworks' totals differ."""

    INPUT_KERNEL = "input weights"
    RECURRENT_KERNEL = "recurrent weights"
    BIAS = "bias"
    PROJECTION = "projection"
    EMBEDDING = "embedding"
    DENSE = "dense head"
    NORM = "layer norm"


class WeightRow(Frozen):
    """One weight tensor as a framework names and shapes it."""

    _fields = ("name", "path", "shape", "role", "direction")
    __slots__ = (*_fields, "params")

    name: str  # the name inside its layer: ``weight_ih_l0`` (PyTorch), ``kernel`` (Keras)
    path: str  # the framework's full name: PyTorch parameter name, Keras variable path
    shape: Shape
    role: Role
    direction: str  # "forward" or "backward"
    #: Elements of ``shape``; computed once at construction (reports are read many times).
    params: Count

    def __init__(self, name: str, path: str, shape: Shape, role: Role, direction: str) -> None:
        # Set directly, not with _assign: a row is built per weight of every analysis, and
        # this is twice as fast (0.4 against 0.9 µs).
        set_slot = object.__setattr__
        set_slot(self, "name", name)
        set_slot(self, "path", path)
        set_slot(self, "shape", shape)
        set_slot(self, "role", role)
        set_slot(self, "direction", direction)
        set_slot(self, "params", shape_count(shape))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "shape": shape_to_json(self.shape),
            "params": _count_json(self.params),
            "direction": self.direction,
            "role": self.role.value,
        }


class LayerReport(Frozen):
    """One recurrent layer (both directions when bidirectional)."""

    _fields = ("name", "kind", "output_shape", "weights")
    __slots__ = (*_fields, "params")

    name: str
    kind: str  # e.g. "LSTM", "Bidirectional(SimpleRNN)"
    output_shape: Shape  # what this layer hands to the next one (or returns)
    weights: tuple[WeightRow, ...]
    params: Count  # derived: the sum of the weights' counts

    def __init__(self, name: str, kind: str, output_shape: Shape, weights: tuple[WeightRow, ...]) -> None:
        self._assign(name, kind, output_shape, weights, total(weight.params for weight in weights))

    def direction_params(self, direction: str) -> Count:
        return total(w.params for w in self.weights if w.direction == direction)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.kind,
            "params": _count_json(self.params),
            "params_formula": _formula_json(self.params),
            "output_shape": shape_to_json(self.output_shape),
            "weights": [weight.to_dict() for weight in self.weights],
        }


class FrameworkReport(Frozen):
    """Everything one framework's conventions say about a spec, or why it cannot express it."""

    _fields = ("framework", "model", "layers", "outputs", "reason", "input_shape")
    __slots__ = (*_fields, "total", "weights")

    framework: str  # the convention's registry name (``rnncalc.frameworks.names()``)
    model: str  # how the framework spells the model, e.g. "nn.LSTM" or "Sequential"
    layers: tuple[LayerReport, ...]
    outputs: tuple[tuple[str, Shape], ...]
    reason: str | None  # set when the framework cannot express the spec
    input_shape: Shape | None  # the input tensor in the framework's layout (None: not stated)
    total: Count  # derived: the sum of the layers' counts
    weights: tuple[WeightRow, ...]  # derived: every layer's weights, in order

    def __init__(
        self,
        framework: str,
        model: str,
        layers: tuple[LayerReport, ...] = (),
        outputs: tuple[tuple[str, Shape], ...] = (),
        reason: str | None = None,
        input_shape: Shape | None = None,
    ) -> None:
        self._assign(
            framework,
            model,
            layers,
            outputs,
            reason,
            input_shape,
            total(layer.params for layer in layers),
            tuple(w for layer in layers for w in layer.weights),
        )

    @property
    def supported(self) -> bool:
        return self.reason is None

    def role_total(self, role: Role) -> Count:
        return total(w.params for w in self.weights if w.role is role)

    def to_dict(self) -> dict[str, Any]:
        if not self.supported:
            return {
                "supported": False,
                "reason": self.reason,
                "model": self.model,
                "total_params": None,
                "total_params_formula": None,
                "layers": [],
                "outputs": {},
                "input_shape": None,
            }
        return {
            "supported": True,
            "reason": None,
            "model": self.model,
            "total_params": _count_json(self.total),
            "total_params_formula": _formula_json(self.total),
            "layers": [layer.to_dict() for layer in self.layers],
            "outputs": {name: shape_to_json(shape) for name, shape in self.outputs},
            "input_shape": None if self.input_shape is None else shape_to_json(self.input_shape),
        }


class FrameworkTotals(Frozen):
    """One framework's total and returned shapes for a spec, without its weight rows.

    What ``rnncalc check`` judges: building every :class:`WeightRow` of a report costs most of
    an analysis, and a check of thousands of specs reads none of them. The total is summed from
    the same slot shapes (:mod:`rnncalc.frameworks.base`) as :attr:`FrameworkReport.total`.
    """

    _fields = ("framework", "model", "total", "outputs", "reason")
    __slots__ = _fields

    framework: str
    model: str
    total: Count
    outputs: tuple[tuple[str, Shape], ...]
    reason: str | None  # set when the framework cannot express the spec

    def __init__(
        self,
        framework: str,
        model: str,
        total: Count = ZERO,
        outputs: tuple[tuple[str, Shape], ...] = (),
        reason: str | None = None,
    ) -> None:
        self._assign(framework, model, total, outputs, reason)

    @property
    def supported(self) -> bool:
        return self.reason is None


class Difference(Frozen):
    """Why one framework's total differs from another's for the same spec (``first - second``).

    ``first`` and ``second`` are registry names; the JSON (schema v1) keeps only the numbers and
    the reason, and with the default choice they are ``torch`` and ``keras``, as v1 documents.
    """

    _fields = ("delta", "reason", "first", "second")
    __slots__ = _fields

    delta: Count
    reason: str
    first: str
    second: str

    def __init__(self, delta: Count, reason: str, first: str, second: str) -> None:
        self._assign(delta, reason, first, second)

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": _count_json(self.delta),
            "params_formula": _formula_json(self.delta),
            "reason": self.reason,
        }

    def pair_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` with the two frameworks compared, for the ``differences`` list."""
        return {"frameworks": [self.first, self.second], **self.to_dict()}


class Analysis(Frozen):
    """The full answer for one spec: each framework's report and how they differ."""

    _fields = ("spec", "frameworks", "difference", "defaults_used", "differences")
    __slots__ = _fields

    spec: Spec
    frameworks: tuple[FrameworkReport, ...]
    difference: Difference | None  # the first two frameworks (schema v1: torch minus keras)
    defaults_used: tuple[str, ...]
    differences: tuple[Difference, ...]  # the first framework against each other one

    def __init__(
        self,
        spec: Spec,
        frameworks: tuple[FrameworkReport, ...],
        difference: Difference | None,
        defaults_used: tuple[str, ...],
        differences: tuple[Difference, ...] = (),
    ) -> None:
        self._assign(spec, frameworks, difference, defaults_used, differences)

    def framework(self, name: str) -> FrameworkReport:
        """The report of the framework registered as ``name``."""
        return next(report for report in self.frameworks if report.framework == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "spec": self.spec.to_dict(),
            "defaults_used": list(self.defaults_used),
            "frameworks": {r.framework: r.to_dict() for r in self.frameworks},
            "difference": self.difference.to_dict() if self.difference else None,
            "differences": [difference.pair_dict() for difference in self.differences],
        }


class ModelAnalysis(Frozen):
    """The answer for a heterogeneous model (embedding, recurrent blocks, dense heads).

    Its JSON keeps the flat analysis's layout (``frameworks`` → ``layers`` with ``type``,
    ``params``, ``weights``; ``outputs``), with ``model`` in place of ``spec``.
    """

    _fields = ("model", "frameworks", "difference", "differences")
    __slots__ = _fields

    model: Model
    frameworks: tuple[FrameworkReport, ...]
    difference: Difference | None  # the first two frameworks
    differences: tuple[Difference, ...]  # the first framework against each other one

    def __init__(
        self,
        model: Model,
        frameworks: tuple[FrameworkReport, ...],
        difference: Difference | None,
        differences: tuple[Difference, ...] = (),
    ) -> None:
        self._assign(model, frameworks, difference, differences)

    def framework(self, name: str) -> FrameworkReport:
        """The report of the framework registered as ``name``."""
        return next(report for report in self.frameworks if report.framework == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.model.name,
            "model": self.model.to_dict(),
            "frameworks": {r.framework: r.to_dict() for r in self.frameworks},
            "difference": self.difference.to_dict() if self.difference else None,
            "differences": [difference.pair_dict() for difference in self.differences],
        }


def _count_json(count: Count) -> int | None:
    return count.constant if count.per_input == 0 else None


def _formula_json(count: Count) -> dict[str, Any] | None:
    return None if count.is_known else count.to_formula()
