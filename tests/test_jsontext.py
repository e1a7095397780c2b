"""``rnncalc.core.jsontext.dumps`` writes exactly what ``json.dumps(..., indent=2)`` writes."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnncalc import analyze
from rnncalc.core.jsontext import dumps

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(documents)
def test_any_json_document_is_written_as_json_dumps_writes_it(document: Any) -> None:
    assert dumps(document) == json.dumps(document, indent=2)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("input_size", [None, 5])
def test_summary_documents_are_written_as_json_dumps_writes_them(cell: str, input_size: int | None) -> None:
    document = analyze(
        {"cell": cell, "hidden_size": 4, "input_size": input_size, "num_layers": 2, "bidirectional": True}
    )
    assert dumps(document) == json.dumps(document, indent=2)


def test_non_ascii_text_is_escaped_as_json_does() -> None:
    assert dumps({"näme": 'π 𝄞\n"x"'}) == '{\n  "n\\u00e4me": "\\u03c0 \\ud834\\udd1e\\n\\"x\\""\n}'


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="JSON has no value"):
        dumps([value])


def test_keys_must_be_strings_and_values_json_types() -> None:
    with pytest.raises(TypeError, match="keys must be strings"):
        dumps({1: 2})
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        dumps({"a": {1}})
