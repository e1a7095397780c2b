"""The two analysis documents a diagram is drawn from.

A framework's input tensor is not in the analysis document, but its layout is: the first
recurrent layer's output, when it returns sequences, has the input's axes with the features
replaced. So the subject is analysed twice, as given and with ``return_sequences`` on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from rnncalc.core.spec import Spec

if TYPE_CHECKING:  # annotations only: a flat spec's diagram never imports model.py
    from rnncalc.core.model import Model


class Documents(NamedTuple):
    """The analysis as asked (``main``) and the same subject returning sequences."""

    main: dict[str, Any]
    sequences: dict[str, Any]


def analyze_subject(subject: Spec | Model, names: Sequence[str]) -> Documents:
    """Both documents for a flat spec or a heterogeneous model, in the frameworks ``names``."""
    from rnncalc.analysis import analyze, analyze_model

    if isinstance(subject, Spec):
        main = analyze(subject, names).to_dict()
        sequences = (
            main  # a cell (step) has no sequence to return
            if subject.return_sequences or subject.step
            else analyze(subject.replace(return_sequences=True), names).to_dict()
        )
        return Documents(main, sequences)
    from rnncalc.core.model import override

    if subject.is_flat:
        return analyze_subject(subject.layers[0], names)
    main = analyze_model(subject, names).to_dict()
    sequences = (
        main
        if subject.return_sequences or subject.last_step  # a last-step head takes no sequence
        else analyze_model(override(subject, {"return_sequences": True}), names).to_dict()
    )
    return Documents(main, sequences)
