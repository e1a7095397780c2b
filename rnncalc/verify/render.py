"""Turn a :class:`~rnncalc.verify.run.Verification` into a table or JSON."""

from __future__ import annotations

import textwrap
from enum import Enum
from typing import Any

from rnncalc import frameworks
from rnncalc.core.spec import describe_spec
from rnncalc.core.symbolic import format_shape
from rnncalc.summary.render import describe_model, to_json
from rnncalc.verify.model import Comparison, Status, Verification


class VerifyFormat(str, Enum):
    TABLE = "table"
    JSON = "json"


def render_verification(verification: Verification, fmt: VerifyFormat) -> str:
    if fmt is VerifyFormat.JSON:
        return to_json(verification.to_dict())
    spec = verification.spec
    batch = "unbatched" if spec.unbatched else f"batch {spec.batch_size}"
    # A step runs from random nonzero initial states (verify.run.random_input), not zeros.
    steps = "one step from random initial states" if spec.step else f"seq_len {spec.seq_len}"
    model = verification.model
    described = describe_model(model) if model is not None else describe_spec(spec)
    heading = f"verify: {described}; {batch}, {steps}, seed {verification.seed}, atol {verification.atol:g}"
    rows: list[list[Any]] = []
    notes = []
    for result in verification.results:
        title = frameworks.get(result.framework).title
        if not result.comparisons:
            rows.append([title, "", "", "", "", result.status.value])
            notes.append(f"{title} {result.status.value}: {result.note}")
            continue
        if result.note:
            notes.append(f"{title}: {result.note}")
        for index, comparison in enumerate(result.comparisons):
            rows.append([title if index == 0 else "", *_cells(comparison)])
    from tabulate import tabulate

    table = tabulate(
        rows,
        headers=["framework", "returns", "shape", "reference", "max |diff|", "result"],
        tablefmt="simple",
        colalign=["left", "left", "left", "left", "right", "left"],
        disable_numparse=True,
    )
    prose = [_wrap(line) for line in (*notes, _verdict(verification))]
    return "\n".join([_wrap(heading), "", table, "", *prose])


def _wrap(line: str) -> str:
    return textwrap.fill(line, width=100, subsequent_indent="  ")


def _cells(comparison: Comparison) -> list[str]:
    shape = format_shape(comparison.shape) if comparison.shape is not None else "missing"
    expected = (
        format_shape(comparison.reference_shape) if comparison.reference_shape is not None else "missing"
    )
    diff = f"{comparison.max_abs_diff:.3g}" if comparison.max_abs_diff is not None else "-"
    return [comparison.name, shape, expected, diff, "ok" if comparison.within else "DIFFERS"]


def _verdict(verification: Verification) -> str:
    compared = [c for r in verification.results for c in r.comparisons]
    failed = [
        f"{frameworks.get(r.framework).title} {c.name}"
        for r in verification.results
        for c in r.comparisons
        if not c.within
    ]
    if failed:
        return f"FAILED: {len(failed)} of {len(compared)} tensors differ beyond atol: {', '.join(failed)}."
    skipped = [r for r in verification.results if r.status is Status.SKIPPED]
    if verification.require and skipped:
        return "FAILED: --require is set and a framework was skipped."
    if not compared:
        what = "model" if verification.model is not None else "spec"
        return f"Nothing compared: no requested framework could run this {what}."
    return (
        f"OK: all {len(compared)} tensors agree with the numpy reference within atol {verification.atol:g}."
    )
