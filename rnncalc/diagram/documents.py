"""The two analysis documents a diagram is drawn from.

A framework's input tensor is not in the analysis document, but its layout is: the first
recurrent layer's output, when it returns sequences, has the input's axes with the features
replaced. So the subject is analysed twice, as given and with ``return_sequences`` on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from rnncalc.core.spec import Spec

if TYPE_CHECKING:  # annotations only: a flat spec's diagram never imports model.py
    from rnncalc.core.model import Model


class Documents(NamedTuple):
    """The analysis as asked (``main``) and the same subject returning sequences."""

    main: dict[str, Any]
    sequences: dict[str, Any]


def analyze_subject(subject: Spec | Model) -> Documents:
    """Both documents for a flat spec or a heterogeneous model."""
    from rnncalc.core.calc import analyze, analyze_model

    if isinstance(subject, Spec):
        main = analyze(subject).to_dict()
        sequences = (
            main if subject.return_sequences else analyze(subject.replace(return_sequences=True)).to_dict()
        )
        return Documents(main, sequences)
    from rnncalc.core.model import override

    if subject.is_flat:
        return analyze_subject(subject.layers[0])
    main = analyze_model(subject).to_dict()
    sequences = (
        main
        if subject.return_sequences
        else analyze_model(override(subject, {"return_sequences": True})).to_dict()
    )
    return Documents(main, sequences)
