"""Flax NNX's analytic side: what it cannot express and why, its notes, and that none of it
imports jax, flax or numpy (runs without flax installed)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from rnncalc.core.errors import SpecError
from rnncalc.core.model import build_model
from rnncalc.core.spec import Spec, spec_from_mapping
from rnncalc.frameworks.flax import CONVENTION


def spec(**fields: Any) -> Spec:
    return spec_from_mapping({"input_size": 5, "hidden_size": 3, **fields})


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"cell": "lstm", "proj_size": 2}, "projection"),
        ({"cell": "gru", "reset_after": False}, "reset_after=False"),
        ({"cell": "rnn", "bias": False}, "bias=False"),
        ({"cell": "lstm", "bidirectional": True, "merge_mode": "none"}, "merge_mode none"),
    ],
)
def test_what_flax_cannot_express_is_reported_with_a_reason_and_refused_by_the_builder(
    fields: dict[str, Any], words: str
) -> None:
    config = spec(**fields)
    report = CONVENTION.report(config)
    assert not report.supported and report.reason is not None and words in report.reason
    assert CONVENTION.totals(config).reason == report.reason
    with pytest.raises(SpecError, match="Flax NNX cannot express"):
        CONVENTION.build(config)


@pytest.mark.parametrize(
    "fields",
    [
        {"cell": "rnn", "nonlinearity": "relu"},
        {"cell": "gru", "unbatched": True},
        {"cell": "lstm", "bidirectional": True, "merge_mode": "ave", "num_layers": 3},
        {"cell": "rnn", "batch_first": True, "return_sequences": True, "return_state": True},
    ],
)
def test_what_flax_can_express_is_supported(fields: dict[str, Any]) -> None:
    assert CONVENTION.report(spec(**fields)).supported


def test_a_model_with_a_block_flax_cannot_express_names_the_block() -> None:
    model = build_model(
        [
            {"cell": "rnn", "hidden_size": 2, "input_size": 3},
            {"cell": "gru", "hidden_size": 2, "reset_after": False},
        ]
    )
    report = CONVENTION.model_report(model)
    assert report.reason is not None and report.reason.startswith("layers[1]: nnx.GRUCell")


def test_the_notes_name_the_gru_bias_layout_and_the_orientation() -> None:
    notes = " ".join(CONVENTION.explain_notes(spec(cell="gru", num_layers=2, bidirectional=True)))
    for words in (
        "`(in, out)`",
        "`dense_i`",
        "no bias",
        "b_hn",
        "3(I·H + H·H) + 3H",
        "RecurrentStack",
        "merge_fn",
    ):
        assert words in notes


def test_the_analytic_methods_import_neither_jax_nor_flax_nor_numpy() -> None:
    code = (
        "import sys, json\n"
        "from rnncalc.core.spec import spec_from_mapping\n"
        "from rnncalc.core.model import build_model\n"
        "from rnncalc.frameworks.flax import CONVENTION as C\n"
        "s = spec_from_mapping({'cell': 'lstm', 'hidden_size': 4, 'input_size': 3, 'num_layers': 2,"
        " 'bidirectional': True})\n"
        "C.report(s); C.totals(s); C.snippet(s); C.explain_notes(s); C.unsupported(s); C.is_installed()\n"
        "C.model_report(build_model([{'cell': 'gru', 'hidden_size': 2, 'input_size': 3}]))\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {'jax', 'flax', 'numpy'})))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout) == []
