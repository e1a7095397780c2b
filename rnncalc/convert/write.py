"""Write converted tensors in the target's file format, atomically.

Every writer receives the target's ``(name, array)`` pairs in report order; the writers, and
the helpers they share (:func:`~rnncalc.frameworks.writing.checked`, the ``.safetensors``
writer), live in the framework modules (``rnncalc/frameworks/*_files.py``,
:mod:`rnncalc.frameworks.writing`), the temporary file moved into place when complete in
:func:`rnncalc.io.atomic.atomic_path`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rnncalc.frameworks.writing import Pairs, Plan


def write(plan: Plan, pairs: Pairs, path: str) -> None:
    """Write ``pairs`` to ``path`` in ``plan``'s target format, by the writer its convention
    declares (:meth:`~rnncalc.core.convention.Convention.tensor_formats`)."""
    assert plan.target.write is not None
    plan.target.write(plan, pairs, path)
