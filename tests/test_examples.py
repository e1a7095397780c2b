"""The example configs: built in real PyTorch and Keras, compared with the calculator and with
the ``expect:`` numbers written in each file."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnncalc.analysis import analyze_model
from rnncalc.frameworks import measure_model
from rnncalc.frameworks.adapter import PROBE_BATCH, PROBE_SEQ_LEN
from rnncalc.io.config import ModelEntry, read_source

pytest.importorskip("torch")
pytest.importorskip("keras")

#: Config files only: course.ipynb is a notebook, run by tests/test_notebook.py.
EXAMPLES = sorted(
    path
    for path in (Path(__file__).resolve().parent.parent / "examples").glob("*.*")
    if path.suffix != ".ipynb"
)


def _probe(shape: tuple[object, ...], batch: int, seq_len: int, batch_first: bool) -> tuple[object, ...]:
    """Unknown (None) batch/time filled with the probe sizes the adapters ran with."""
    fill = [batch, seq_len] if batch_first else [seq_len, batch]
    out = []
    for dim in shape:
        out.append(fill.pop(0) if dim is None else dim)
    return tuple(out)


def test_there_are_examples() -> None:
    assert {path.stem for path in EXAMPLES} >= {"sentiment", "seq2seq_encoder", "char_lm"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_example_matches_real_framework_and_its_expectations(framework: str, path: Path) -> None:
    (entry,) = read_source(str(path))
    assert isinstance(entry, ModelEntry)
    model = entry.model
    report = analyze_model(model).framework(framework)
    measured = measure_model(model, framework)
    assert report.total.value == measured.total_params
    assert [(w.path, w.shape) for w in report.weights] == list(measured.weights)
    expected = entry.expectations().for_framework(framework)
    assert expected.params == measured.total_params
    if expected.max_params is not None:
        assert measured.total_params <= expected.max_params
    expected_outputs = dict(expected.outputs)
    assert expected_outputs == dict(report.outputs)
    batch = model.batch_size or PROBE_BATCH
    seq_len = model.seq_len or PROBE_SEQ_LEN
    # Keras always puts the batch first; PyTorch unless batch_first is false.
    first = model.batch_first or framework == "keras"
    probed = {name: _probe(shape, batch, seq_len, first) for name, shape in expected_outputs.items()}
    assert probed == dict(measured.outputs)
