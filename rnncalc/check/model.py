"""The check model: what a target is expected to be, and a status per checked item.

Pure and framework-free. A :class:`CheckTarget` (from flags today, from config files later)
carries a spec and its :class:`Expectations`; :func:`evaluate` judges them against the
analytic reports, fast; the runner (:mod:`rnncalc.check.run`) then merges the cross-checks
against the real frameworks with :meth:`TargetResult.with_crosscheck`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from rnncalc import frameworks as registry
from rnncalc.check.crosscheck import CrossCheck, Value, format_value
from rnncalc.core.errors import SpecError
from rnncalc.core.model import Model
from rnncalc.core.report import FrameworkReport, FrameworkTotals
from rnncalc.core.spec import Spec, did_you_mean
from rnncalc.core.symbolic import Shape, shape_to_json
from rnncalc.core.text import shown
from rnncalc.core.units import parse_count


class Status(str, Enum):
    """The verdict on one item, one framework or one target."""

    OK = "ok"
    OVER_BUDGET = "over budget"
    MISMATCH = "mismatch"
    SKIPPED = "skipped"
    NOT_EXPRESSIBLE = "not expressible"

    @property
    def failing(self) -> bool:
        """Over budget and mismatch always fail; a skip fails only under ``--require``."""
        return self in (Status.OVER_BUDGET, Status.MISMATCH)


#: What :func:`evaluate` judges: a full report, or just its totals (all ``check`` needs).
Judged = FrameworkReport | FrameworkTotals

#: Worst first: the status a framework or target takes from its items.
_SEVERITY = (Status.MISMATCH, Status.OVER_BUDGET, Status.SKIPPED, Status.NOT_EXPRESSIBLE, Status.OK)


def worst(statuses: Sequence[Status]) -> Status:
    return min(statuses, key=_SEVERITY.index, default=Status.OK)


# --- What a target is expected to be -------------------------------------------------------


@dataclass(frozen=True)
class FrameworkExpectation:
    """Expectations on one framework's analytic numbers.

    ``params`` is exact, ``max_params`` a budget, ``outputs`` maps a returned tensor's name
    (as ``summary`` lists it: ``output``, ``h_n``, ``state_h``...) to its shape, where ``None``
    in an expected shape matches any size.
    """

    params: int | None = None
    max_params: int | None = None
    outputs: Mapping[str, Shape] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.params is None and self.max_params is None and not self.outputs

    def merged(self, other: FrameworkExpectation) -> FrameworkExpectation:
        """``other`` added to this one: its exact values win, budgets keep the tighter one."""
        budgets = [b for b in (self.max_params, other.max_params) if b is not None]
        return FrameworkExpectation(
            params=other.params if other.params is not None else self.params,
            max_params=min(budgets) if budgets else None,
            outputs={**self.outputs, **other.outputs},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "max_params": self.max_params,
            "outputs": {name: shape_to_json(shape) for name, shape in self.outputs.items()},
        }


#: What a framework absent from :attr:`Expectations.frameworks` is expected to be: nothing.
_NO_EXPECTATION = FrameworkExpectation()


@dataclass(frozen=True)
class Expectations:
    """Per-framework expectations; a framework absent from the mapping has none."""

    frameworks: Mapping[str, FrameworkExpectation] = field(default_factory=dict)  # by registry name

    def for_framework(self, framework: str) -> FrameworkExpectation:
        return self.frameworks.get(framework, _NO_EXPECTATION)

    @classmethod
    def budget(cls, max_params: int) -> Expectations:
        """The same parameter budget for every framework (``--max-params``)."""
        return cls({fw: FrameworkExpectation(max_params=max_params) for fw in registry.names()})

    def merged(self, other: Expectations) -> Expectations:
        """Combine, e.g. a file's ``expect:`` with ``--max-params`` from the command line."""
        if not other.frameworks:  # nothing to add (a JSONL line without budget flags): keep self
            return self
        return Expectations(
            {fw: self.for_framework(fw).merged(other.for_framework(fw)) for fw in registry.names()}
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            fw: self.for_framework(fw).to_dict()
            for fw in registry.names()
            if not self.for_framework(fw).empty
        }


@dataclass(frozen=True)
class CheckTarget:
    """One model to check: a name, its spec, where it came from, and what is expected of it.

    ``source`` is ``"models/encoder.yaml:3"`` for a model read from a file (so failures can be
    annotated on that line) and None for flags.
    """

    name: str
    spec: Spec
    source: str | None = None
    expectations: Expectations = field(default_factory=Expectations)
    #: A heterogeneous model (embedding, several blocks, dense heads) read from a config file;
    #: ``spec`` is then its first recurrent block. None for a flat spec.
    model: Model | None = None


# --- Results ---------------------------------------------------------------------------------


class ItemKind(str, Enum):
    PARAMS = "params"
    MAX_PARAMS = "max_params"
    OUTPUT = "output"


@dataclass(frozen=True)
class ItemResult:
    """One expectation judged against the analytic numbers."""

    kind: ItemKind
    item: str  # "params", "max_params", or "output <name>"
    expected: Value
    actual: Value
    status: Status
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "item": self.item,
            "expected": _value_json(self.expected),
            "actual": _value_json(self.actual),
            "status": self.status.value,
            "message": self.message,
        }


#: The cross-check keys when no real model was run, so every document has the same shape.
_NO_CROSSCHECK: dict[str, Any] = {"ok": None, "device": None, "note": None, "probe": None, "rows": []}


@dataclass(frozen=True)
class FrameworkResult:
    """One framework's verdict: its expectations, then (if requested) the real cross-check.

    ``cross_status`` is None when no cross-check was requested (``--against none`` or a
    framework not named), else OK / MISMATCH / SKIPPED / NOT_EXPRESSIBLE with ``cross_reason``.
    """

    framework: str  # registry name
    model: str
    params: int | None  # the analytic total; None when the framework cannot express the spec
    items: tuple[ItemResult, ...] = ()
    cross_status: Status | None = None
    cross_reason: str | None = None
    crosscheck: CrossCheck | None = None

    @property
    def checked(self) -> bool:
        """False when nothing was asked of this framework (no expectation, no cross-check)."""
        return bool(self.items) or self.cross_status is not None

    @property
    def status(self) -> Status:
        statuses = [item.status for item in self.items]
        if self.cross_status is not None:
            statuses.append(self.cross_status)
        return worst(statuses)

    def failures(self, require: bool = False) -> list[str]:
        """One line per failing item, naming it and its numbers."""
        lines = [item.message for item in self.items if item.status.failing]
        if self.cross_status is Status.MISMATCH:
            if self.crosscheck is not None and self.crosscheck.differing:
                lines += [f"differs from real: {row.describe()}" for row in self.crosscheck.differing]
            else:
                lines.append(f"real model: {self.cross_reason}")
        if require and self.cross_status is Status.SKIPPED:
            lines.append(f"skipped but required: {self.cross_reason}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "model": self.model,
            "status": self.status.value,
            "checked": self.checked,
            "params": self.params,
            "expectations": [item.to_dict() for item in self.items],
            "crosscheck": {
                "status": self.cross_status.value if self.cross_status else "not requested",
                "reason": self.cross_reason,
                **(self.crosscheck.to_dict() if self.crosscheck else _NO_CROSSCHECK),
            },
        }


@dataclass(frozen=True)
class TargetResult:
    """Everything checked for one target."""

    target: CheckTarget
    frameworks: tuple[FrameworkResult, ...]

    @property
    def status(self) -> Status:
        return worst([result.status for result in self.frameworks])

    def framework(self, name: str) -> FrameworkResult:
        return next(result for result in self.frameworks if result.framework == name)

    def failed(self, require: bool = False) -> bool:
        return bool(self.failures(require))

    def failures(self, require: bool = False) -> list[str]:
        """``torch: over budget: ...`` lines for every failing item of every framework."""
        return [
            f"{result.framework}: {line}" for result in self.frameworks for line in result.failures(require)
        ]

    def with_crosscheck(
        self,
        framework: str,
        status: Status,
        reason: str | None = None,
        check: CrossCheck | None = None,
    ) -> TargetResult:
        """A copy with ``framework``'s cross-check outcome merged in."""
        frameworks = tuple(
            dataclasses.replace(r, cross_status=status, cross_reason=reason, crosscheck=check)
            if r.framework == framework
            else r
            for r in self.frameworks
        )
        return dataclasses.replace(self, frameworks=frameworks)

    def to_dict(self, require: bool = False) -> dict[str, Any]:
        failures = self.failures(require)
        return {
            "name": self.target.name,
            "source": self.target.source,
            "status": "failed" if failures else "ok",
            "spec": self.target.spec.to_dict() if self.target.model is None else None,
            **({"model": self.target.model.to_dict()} if self.target.model is not None else {}),
            "frameworks": {r.framework: r.to_dict() for r in self.frameworks},
            "failures": failures,
        }


@dataclass(frozen=True)
class CheckReport:
    """The whole run: every target's result and whether skips count as failures."""

    results: tuple[TargetResult, ...]
    require: bool = False

    @property
    def failed(self) -> bool:
        return any(result.failed(self.require) for result in self.results)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def failures(self) -> list[str]:
        return [
            f"{result.target.name}: {line}"
            for result in self.results
            for line in result.failures(self.require)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "ok": not self.failed,
            "require": self.require,
            "models": [result.to_dict(self.require) for result in self.results],
        }


# --- Analytic evaluation -------------------------------------------------------------------


def evaluate(target: CheckTarget, reports: Sequence[Judged]) -> TargetResult:
    """Judge ``target``'s expectations against the analytic ``reports`` (one per framework).

    Raises :class:`SpecError` when a parameter expectation cannot be judged because the input
    size is unknown (counts would be formulas in ``I``).
    """
    results = []
    for report in reports:
        expectation = target.expectations.for_framework(report.framework)
        params = _known_total(
            report, needed=expectation.params is not None or expectation.max_params is not None
        )
        results.append(
            FrameworkResult(report.framework, report.model, params, _judge(report, params, expectation))
        )
    return TargetResult(target, tuple(results))


def _known_total(report: Judged, needed: bool) -> int | None:
    if not report.supported:
        return None
    if report.total.is_known:
        return report.total.value
    if needed:
        raise SpecError("input_size", "is required to check a parameter count (it is a formula in I)")
    return None


def _judge(report: Judged, params: int | None, expectation: FrameworkExpectation) -> tuple[ItemResult, ...]:
    items: list[ItemResult] = []
    if not report.supported:
        reason = f"not expressible: {report.reason}"
        if expectation.params is not None:
            items.append(
                ItemResult(
                    ItemKind.PARAMS, "params", expectation.params, None, Status.NOT_EXPRESSIBLE, reason
                )
            )
        if expectation.max_params is not None:
            items.append(
                ItemResult(
                    ItemKind.MAX_PARAMS,
                    "max_params",
                    expectation.max_params,
                    None,
                    Status.NOT_EXPRESSIBLE,
                    reason,
                )
            )
        for name, shape in expectation.outputs.items():
            items.append(
                ItemResult(ItemKind.OUTPUT, f"output {name}", shape, None, Status.NOT_EXPRESSIBLE, reason)
            )
        return tuple(items)
    if expectation.params is not None and params is not None:
        expected = expectation.params
        ok = params == expected
        message = (
            f"params {params:,} as expected"
            if ok
            else f"mismatch: params {params:,}, expected {expected:,} ({params - expected:+,})"
        )
        items.append(
            ItemResult(
                ItemKind.PARAMS, "params", expected, params, Status.OK if ok else Status.MISMATCH, message
            )
        )
    if expectation.max_params is not None and params is not None:
        budget = expectation.max_params
        ok = params <= budget
        message = (
            f"params {params:,} within budget {budget:,}"
            if ok
            else f"over budget: params {params:,} > max_params {budget:,} (+{params - budget:,})"
        )
        items.append(
            ItemResult(
                ItemKind.MAX_PARAMS,
                "max_params",
                budget,
                params,
                Status.OK if ok else Status.OVER_BUDGET,
                message,
            )
        )
    outputs = dict(report.outputs)
    for name, expected_shape in expectation.outputs.items():
        actual = outputs.get(name)
        if actual is None:
            message = f"mismatch: no output named {shown(name)}; outputs are {', '.join(outputs)}"
            items.append(
                ItemResult(ItemKind.OUTPUT, f"output {name}", expected_shape, None, Status.MISMATCH, message)
            )
            continue
        ok = shape_matches(actual, expected_shape)
        message = (
            f"output {name} {format_value(actual)} as expected"
            if ok
            else f"mismatch: output {name} {format_value(actual)}, expected {format_value(expected_shape)}"
        )
        items.append(
            ItemResult(
                ItemKind.OUTPUT,
                f"output {name}",
                expected_shape,
                actual,
                Status.OK if ok else Status.MISMATCH,
                message,
            )
        )
    return tuple(items)


def shape_matches(actual: Shape, expected: Shape) -> bool:
    """Equal rank and equal sizes, where ``None`` in ``expected`` matches any size."""
    return len(actual) == len(expected) and all(
        e is None or a == e for a, e in zip(actual, expected, strict=True)
    )


def _value_json(value: Value) -> Any:
    if value is None or isinstance(value, int):
        return value
    return shape_to_json(value)


# --- The ``expect:`` block of a config file ------------------------------------------------------

_EXPECT_KEYS = ("params", "max_params", "outputs")


def expectations_from_mapping(data: Mapping[str, Any], where: str = "expect") -> Expectations:
    """Read an ``expect:`` block as issue 3's config files write it.

    Accepted forms (all combinable)::

        expect:
          max_params: 2M                       # budget for every framework
          keras: {params: 1234567}             # exact, per framework
          torch: {max_params: 2_000_000, outputs: {h_n: [2, null, 128]}}
          outputs: {keras: {output: [null, 10]}}

    Counts take ``parse_count`` forms (``2M``, ``250k``, ints); in shapes ``null`` matches any
    size. Errors are :class:`SpecError` whose field is the key path (``expect.keras.parms``),
    with a did-you-mean, so a file reader can add the file and line.
    """
    frameworks = list(registry.names())
    if not isinstance(data, Mapping):
        raise SpecError(where, f"must be a mapping, got {shown(data)}")
    result = Expectations()
    for key, value in data.items():
        path = f"{where}.{key}"
        if key in frameworks:
            result = result.merged(Expectations({key: _framework_expectation(value, path)}))
        elif key == "outputs":
            if not isinstance(value, Mapping):
                raise SpecError(path, f"must map a framework to its outputs, got {shown(value)}")
            for fw_name, outputs in value.items():
                if fw_name not in frameworks:
                    raise SpecError(
                        f"{path}.{fw_name}", f"unknown framework{did_you_mean(str(fw_name), frameworks)}"
                    )
                expectation = FrameworkExpectation(outputs=_outputs(outputs, f"{path}.{fw_name}"))
                result = result.merged(Expectations({fw_name: expectation}))
        elif key == "max_params":
            result = result.merged(Expectations.budget(parse_count(path, value)))
        else:
            choices = [*frameworks, "outputs", "max_params"]
            raise SpecError(path, f"unknown key{did_you_mean(str(key), choices)}; use {', '.join(choices)}")
    return result


def _framework_expectation(data: Any, where: str) -> FrameworkExpectation:
    if not isinstance(data, Mapping):
        raise SpecError(where, f"must be a mapping of {', '.join(_EXPECT_KEYS)}, got {shown(data)}")
    for key in data:
        if key not in _EXPECT_KEYS:
            raise SpecError(f"{where}.{key}", f"unknown key{did_you_mean(str(key), _EXPECT_KEYS)}")
    params = data.get("params")
    max_params = data.get("max_params")
    return FrameworkExpectation(
        params=None if params is None else parse_count(f"{where}.params", params),
        max_params=None if max_params is None else parse_count(f"{where}.max_params", max_params),
        outputs=_outputs(data.get("outputs", {}), f"{where}.outputs"),
    )


def _outputs(data: Any, where: str) -> dict[str, Shape]:
    if not isinstance(data, Mapping):
        raise SpecError(where, f"must map an output name to its shape, got {shown(data)}")
    outputs: dict[str, Shape] = {}
    for name, shape in data.items():
        valid = isinstance(shape, (list, tuple)) and all(
            dim is None or (isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0) for dim in shape
        )
        if not valid:
            raise SpecError(f"{where}.{name}", f"must be a shape such as [null, 10], got {shown(shape)}")
        outputs[str(name)] = tuple(shape)
    return outputs
