"""``rnncalc convert``: move a recurrent stack's or a whole model's weights from one framework's
file to another's.

:mod:`~rnncalc.convert.plan` decides (and refuses) before anything is written (a whole model
read by :mod:`~rnncalc.convert.whole`),
:mod:`~rnncalc.convert.stream` converts layer by layer through the conventions' canonical
weights, :mod:`~rnncalc.convert.write` writes the target format atomically and
:mod:`~rnncalc.convert.verify` runs source and target on the same input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rnncalc.convert.plan import make_plan
from rnncalc.core.errors import ConversionError, SpecError
from rnncalc.core.model import Model
from rnncalc.core.spec import Nonlinearity
from rnncalc.frameworks.writing import Plan


@dataclass(frozen=True)
class Converted:
    """What :func:`convert` did: the plan it followed, how many tensors and values it wrote, and
    the source's float64 tensors whose values were rounded to float32, with the largest change."""

    plan: Plan
    tensors: int
    params: int
    rounded: tuple[tuple[str, float], ...] = ()


def convert(
    source: str,
    destination: str,
    to: str | None = None,
    *,
    force: bool = False,
    nonlinearity: Nonlinearity | None = None,
    part: Sequence[str] = (),
    model: Model | None = None,
) -> Converted:
    """Convert ``source`` to ``destination`` (target from its extension or ``to``); see
    :func:`~rnncalc.convert.plan.make_plan` for what is refused and for ``part`` and ``model``."""
    plan = make_plan(source, destination, to, force=force, nonlinearity=nonlinearity, part=part, model=model)
    return write_plan(plan, force=force)


def write_plan(plan: Plan, *, force: bool = False) -> Converted:
    """Carry out ``plan``: stream the source's tensors through the conversion into the target
    format, in a temporary file moved onto the destination when complete."""
    import math

    from rnncalc.convert.plan import source_weights
    from rnncalc.convert.stream import converted
    from rnncalc.convert.write import write
    from rnncalc.frameworks.writing import target_rows
    from rnncalc.io.atomic import atomic_path

    data = plan.source.format.open(plan.source.path)
    try:
        with atomic_path(plan.destination, force) as temporary:
            write(plan, converted(plan, source_weights(plan.source, data)), temporary)
    except ConversionError as error:  # a value the target cannot hold, found in the data
        raise ConversionError(f"{plan.source.path}: {error}") from None
    except OSError as error:  # a full disk, a directory without write permission
        raise SpecError("-o", f"{plan.destination}: {error.strerror or error}") from None
    finally:
        data.close()
    rows = target_rows(plan)
    return Converted(plan, len(rows), sum(math.prod(shape) for _, shape in rows), tuple(data.rounded.items()))


__all__ = ["Converted", "Plan", "convert", "make_plan", "write_plan"]
