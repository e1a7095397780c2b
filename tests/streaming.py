"""Proof that a consumer of ``(name, array)`` pairs holds one array at a time.

:func:`one_at_a_time` wraps the pairs a converted stream yields: before it hands out the next
pair it checks, through a weak reference, that the previous array is gone (collected), so a
writer that keeps every tensor until the end (a dict of the whole state, a model with every
variable assigned) fails, whatever the sizes. Used by the writers' streaming tests.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterable, Iterator
from typing import Any


class HeldTooLong(AssertionError):
    """A writer asked for the next tensor while still holding the previous one."""


def one_at_a_time(pairs: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    """``pairs``, checking before each one after the first that the array before it was freed."""
    previous: tuple[str, weakref.ref[Any]] | None = None
    for name, array in pairs:
        if previous is not None:
            gc.collect()
            if previous[1]() is not None:
                raise HeldTooLong(f"{previous[0]} is still held when {name} is asked for")
        previous = (name, weakref.ref(array))
        yield name, array
        del array


def converted_pairs(plan: Any) -> Iterator[tuple[str, Any]]:
    """The target's pairs for ``plan`` (a :class:`rnncalc.convert.plan.Plan`), made as
    :func:`rnncalc.convert.write_plan` makes them; the source file is closed at the end."""
    from rnncalc.convert.plan import source_weights
    from rnncalc.convert.stream import converted

    data = plan.source.format.open(plan.source.path)
    try:
        yield from converted(plan, source_weights(plan.source, data))
    finally:
        data.close()
