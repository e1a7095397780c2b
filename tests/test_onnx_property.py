"""For every spec hypothesis draws, the analytic ONNX report equals what the real graph holds:
onnx.checker (full check) accepts it, the initializers' total, names and shapes are the report's,
and onnxruntime returns arrays of the report's output shapes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnncalc.core.spec import Cell, MergeMode, Nonlinearity, Spec
from rnncalc.frameworks.adapter import probe_spec
from rnncalc.frameworks.onnx import CONVENTION as ONNX

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    """Specs ONNX can express: every cell, attribute and layout, small sizes."""
    cell = draw(st.sampled_from(Cell))
    return Spec(
        cell=cell,
        input_size=draw(st.integers(1, 9)),
        hidden_size=draw(st.integers(1, 9)),
        num_layers=draw(st.integers(1, 3)),
        bidirectional=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        bias=draw(st.booleans()),
        nonlinearity=draw(st.sampled_from(Nonlinearity)) if cell is Cell.RNN else Nonlinearity.TANH,
        reset_after=draw(st.booleans()) if cell is Cell.GRU else True,
        merge_mode=MergeMode.CONCAT,
        batch_size=draw(st.none() | st.integers(1, 3)),
        seq_len=draw(st.none() | st.integers(1, 4)),
    )


def _check(spec: Spec) -> None:
    measured = ONNX.measure(spec)  # builds, runs onnx.checker with full_check, runs onnxruntime
    expected = ONNX.report(probe_spec(spec))
    assert measured.total_params == expected.total.value
    assert ONNX.totals(spec).total == expected.total
    assert list(measured.weights) == [(w.path, w.shape) for w in expected.weights]
    assert list(measured.outputs) == list(expected.outputs)


@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(spec=specs())
def test_the_report_matches_the_graph_onnxruntime_runs(spec: Spec) -> None:
    _check(spec)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs())
def test_the_report_matches_the_graph_on_many_fresh_random_specs(spec: Spec) -> None:
    _check(spec)
