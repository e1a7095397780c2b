"""The immutable value classes (``rnncalc.core.frozen.Frozen``) behave as frozen dataclasses did."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from rnncalc.analysis import analyze
from rnncalc.core.errors import SpecError
from rnncalc.core.spec import SPEC_FIELDS, Activation, Cell, MergeMode, Nonlinearity, Spec, spec_from_mapping


def test_a_spec_refuses_assignment_and_deletion() -> None:
    spec = Spec(cell=Cell.RNN, hidden_size=8)
    with pytest.raises(AttributeError, match="immutable"):
        spec.hidden_size = 9
    with pytest.raises(AttributeError, match="immutable"):
        del spec.hidden_size
    assert spec.hidden_size == 8


def test_every_spec_field_keeps_the_value_it_was_given() -> None:
    values: dict[str, Any] = {
        "cell": Cell.LSTM,
        "hidden_size": 9,
        "input_size": 7,
        "num_layers": 3,
        "bidirectional": True,
        "batch_first": True,
        "bias": False,
        "nonlinearity": Nonlinearity.TANH,
        "proj_size": 4,
        "reset_after": True,
        "return_sequences": True,
        "return_state": True,
        "merge_mode": MergeMode.SUM,
        "batch_size": 5,
        "seq_len": 6,
        "unbatched": False,
        "step": False,
        "activation": Activation.RELU,
        "recurrent_activation": Activation.HARD_SIGMOID,
        "go_backwards": False,
        "unit_forget_bias": False,
        "stateful": True,
        "unroll": True,
    }
    assert set(values) == set(SPEC_FIELDS)
    spec = Spec(**values, given=frozenset({"cell"}))
    assert {name: getattr(spec, name) for name in SPEC_FIELDS} == values
    assert spec.given == {"cell"}


def test_spec_equality_and_hash_ignore_which_fields_were_given() -> None:
    built = Spec(cell=Cell.LSTM, hidden_size=8, num_layers=1)
    parsed = spec_from_mapping({"cell": "lstm", "hidden_size": 8})
    assert built.given != parsed.given
    assert built == parsed
    assert hash(built) == hash(parsed)
    assert built != parsed.replace(num_layers=2)
    assert len({built, parsed, parsed.replace(bias=False)}) == 2


def test_spec_repr_names_every_field_but_given() -> None:
    text = repr(Spec(cell=Cell.GRU, hidden_size=3, input_size=4))
    assert text.startswith("Spec(cell=<Cell.GRU: 'gru'>, hidden_size=3, input_size=4, num_layers=1,")
    assert "given" not in text


def test_spec_replace_validates_and_records_the_changed_fields() -> None:
    spec = spec_from_mapping({"cell": "rnn", "hidden_size": 8})
    assert spec.replace(input_size=5).given == {"cell", "hidden_size", "input_size"}
    with pytest.raises(SpecError, match="hidden_size: must be a positive integer"):
        spec.replace(hidden_size=0)


def test_specs_and_reports_survive_pickle_and_copy_with_their_derived_values() -> None:
    spec = spec_from_mapping({"cell": "lstm", "hidden_size": 8, "input_size": 5, "bidirectional": True})
    for restored in (pickle.loads(pickle.dumps(spec)), copy.copy(spec), copy.deepcopy(spec)):
        assert restored == spec
        assert restored.given == spec.given
    analysis = analyze(spec)
    again = pickle.loads(pickle.dumps(analysis))
    assert again == analysis
    assert again.frameworks[0].total == analysis.frameworks[0].total
    assert again.to_dict() == analysis.to_dict()


def test_values_of_different_classes_are_never_equal() -> None:
    report = analyze({"cell": "rnn", "hidden_size": 8, "input_size": 5}).frameworks[0]
    row = report.weights[0]
    assert row != (row.name, row.path, row.shape, row.role, row.direction)
    assert report.layers[0] != row
