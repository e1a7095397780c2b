"""Pictures of a recurrent model: the stack view and the unrolled view, as SVG or Mermaid.

Built from the analysis document (:func:`rnncalc.analyze`'s JSON form), iterating over
whatever frameworks it holds: :mod:`~rnncalc.diagram.layout` computes boxes and arrows as
data, :mod:`~rnncalc.diagram.svg` and :mod:`~rnncalc.diagram.mermaid` only draw them.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rnncalc.core.model import Model
    from rnncalc.core.spec import Spec


class DiagramFormat(str, Enum):
    SVG = "svg"
    MERMAID = "mermaid"


def only_frameworks(document: dict[str, Any], keys: Sequence[str] | None) -> dict[str, Any]:
    """``document`` keeping the frameworks of ``keys`` (all when None), in the document's order."""
    if keys is None:
        return document
    return {**document, "frameworks": {k: v for k, v in document["frameworks"].items() if k in keys}}


def draw(
    subject: Spec | Model,
    fmt: DiagramFormat = DiagramFormat.SVG,
    unroll: int | None = None,
    frameworks: Sequence[str] | None = None,
) -> str:
    """The stack view (or, with ``unroll`` steps, the unrolled view) of ``subject`` as text, one
    panel per framework of ``frameworks`` (registry names; None: those shown by default)."""
    from rnncalc.diagram.documents import analyze_subject
    from rnncalc.diagram.layout import stack_view, unrolled_view
    from rnncalc.frameworks import default_names

    names = tuple(frameworks) if frameworks is not None else default_names()
    documents = analyze_subject(subject, names)
    main = only_frameworks(documents.main, names)
    if unroll is None:
        diagram = stack_view(main, only_frameworks(documents.sequences, names))
    else:
        diagram = unrolled_view(main, unroll)
    if fmt is DiagramFormat.MERMAID:
        from rnncalc.diagram.mermaid import to_mermaid

        return to_mermaid(diagram)
    from rnncalc.diagram.svg import to_svg

    return to_svg(diagram)
