"""Every registered framework either describes the cell and Keras variants or says why not."""

from __future__ import annotations

from typing import Any

import pytest

from rnncalc import frameworks
from rnncalc.core.spec import spec_from_mapping

BASE: dict[str, Any] = {"cell": "lstm", "input_size": 3, "hidden_size": 4}
VARIANTS: dict[str, dict[str, Any]] = {
    "step": {"step": True},
    "activation": {"activation": "relu"},
    "recurrent_activation": {"recurrent_activation": "hard_sigmoid"},
    "go_backwards": {"go_backwards": True},
    "stateful": {"stateful": True, "batch_size": 2},
}
#: Measured or documented: PyTorch has cells (nn.LSTMCell) but none of Keras's layer options;
#: Keras has all; Flax NNX and ONNX are modelled with their default layers only.
EXPRESSIBLE = {
    "torch": {"step"},
    "keras": set(VARIANTS),
    "flax": set(),
    "onnx": set(),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("name", frameworks.names())
def test_a_variant_is_described_or_refused_with_a_reason(name: str, variant: str) -> None:
    spec = spec_from_mapping({**BASE, **VARIANTS[variant]})
    convention = frameworks.get(name)
    reason = convention.unsupported(spec)
    assert (reason is None) == (variant in EXPRESSIBLE[name]), reason
    report = convention.report(spec)
    assert report.reason == reason
    assert convention.totals(spec).reason == reason
    if reason is None:
        assert report.total.value == convention.totals(spec).total.value > 0
