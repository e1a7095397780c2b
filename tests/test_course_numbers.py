"""Every number from the course material, through the CLI (analytic) and the real frameworks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rnncalc.core.spec import spec_from_mapping
from rnncalc.frameworks import measure


def keras(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["frameworks"]["keras"]  # type: ignore[no-any-return]


def torch(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["frameworks"]["torch"]  # type: ignore[no-any-return]


def test_keras_simple_rnn_3_on_2x10_has_42_params_and_output_none_3(run_json: Callable[..., Any]) -> None:
    doc = run_json("summary", "--cell", "simplernn", "-H", "3", "-t", "2", "-i", "10")
    assert keras(doc)["total_params"] == 42
    assert keras(doc)["outputs"] == {"output": [None, 3]}


def test_keras_simple_rnn_3_with_batch_8_outputs_8_3(run_json: Callable[..., Any]) -> None:
    doc = run_json("summary", "-c", "rnn", "-H", "3", "-t", "2", "-i", "10", "-b", "8")
    assert keras(doc)["outputs"] == {"output": [8, 3]}


def test_keras_simple_rnn_3_return_sequences_outputs_8_2_3(run_json: Callable[..., Any]) -> None:
    doc = run_json("summary", "-c", "rnn", "-H", "3", "-t", "2", "-i", "10", "-b", "8", "--return-sequences")
    assert keras(doc)["outputs"] == {"output": [8, 2, 3]}


def test_keras_two_stacked_simple_rnn_8_count_112_then_136_total_248(run_json: Callable[..., Any]) -> None:
    doc = run_json("summary", "-c", "rnn", "-H", "8", "-i", "5", "-t", "10", "-l", "2")
    assert [layer["params"] for layer in keras(doc)["layers"]] == [112, 136]
    assert keras(doc)["total_params"] == 248
    assert keras(doc)["layers"][0]["output_shape"] == [None, 10, 8]


def test_keras_bidirectional_simple_rnn_8_has_224_and_output_none_10_16(run_json: Callable[..., Any]) -> None:
    doc = run_json("summary", "-c", "rnn", "-H", "8", "-i", "5", "-t", "10", "--bi", "--return-sequences")
    assert keras(doc)["total_params"] == 224
    assert keras(doc)["outputs"] == {"output": [None, 10, 16]}


def test_keras_four_stacked_bidirectional_layers_add_400_each_for_1424(run_json: Callable[..., Any]) -> None:
    doc = run_json("summary", "-c", "rnn", "-H", "8", "-i", "5", "-t", "10", "--bi", "-l", "4")
    assert [layer["params"] for layer in keras(doc)["layers"]] == [224, 400, 400, 400]
    assert keras(doc)["total_params"] == 1424


@pytest.mark.parametrize(
    ("flags", "output", "h_n"),
    [
        ((), [1, 10, 8], [1, 1, 8]),
        (("-l", "2"), [1, 10, 8], [2, 1, 8]),
        (("-l", "2", "--bi"), [1, 10, 16], [4, 1, 8]),
    ],
)
@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_torch_rnn_5_8_batch_first_on_1_10_5_gives_course_shapes(
    run_json: Callable[..., Any], cell: str, flags: tuple[str, ...], output: list[int], h_n: list[int]
) -> None:
    doc = run_json(
        "summary", "-c", cell, "-i", "5", "-H", "8", "--batch-first", "-b", "1", "-t", "10", *flags
    )
    outputs = torch(doc)["outputs"]
    assert outputs["output"] == output
    assert outputs["h_n"] == h_n
    if cell == "lstm":
        assert outputs["c_n"] == h_n
    else:
        assert "c_n" not in outputs


def test_same_rnn_layer_counts_differ_by_the_second_bias(run_json: Callable[..., Any]) -> None:
    doc = run_json("summary", "-c", "rnn", "-H", "8", "-i", "5", "--bi")
    assert (torch(doc)["total_params"], keras(doc)["total_params"]) == (240, 224)
    assert doc["difference"]["params"] == 16
    assert "two bias vectors" in doc["difference"]["reason"]


COURSE_MODELS = [
    ({"cell": "rnn", "hidden_size": 3, "input_size": 10, "seq_len": 2}, 42, {"output": (None, 3)}),
    (
        {"cell": "rnn", "hidden_size": 3, "input_size": 10, "seq_len": 2, "batch_size": 8},
        42,
        {"output": (8, 3)},
    ),
    (
        {
            "cell": "rnn",
            "hidden_size": 3,
            "input_size": 10,
            "seq_len": 2,
            "batch_size": 8,
            "return_sequences": True,
        },
        42,
        {"output": (8, 2, 3)},
    ),
    (
        {"cell": "rnn", "hidden_size": 8, "input_size": 5, "seq_len": 10, "num_layers": 2},
        248,
        {"output": (None, 8)},
    ),
    (
        {
            "cell": "rnn",
            "hidden_size": 8,
            "input_size": 5,
            "seq_len": 10,
            "bidirectional": True,
            "return_sequences": True,
        },
        224,
        {"output": (None, 10, 16)},
    ),
    (
        {
            "cell": "rnn",
            "hidden_size": 8,
            "input_size": 5,
            "seq_len": 10,
            "bidirectional": True,
            "num_layers": 4,
        },
        1424,
        {"output": (None, 16)},
    ),
]


@pytest.mark.parametrize(("fields", "params", "outputs"), COURSE_MODELS)
def test_real_keras_reproduces_the_course_numbers(fields: dict[str, Any], params: int, outputs: Any) -> None:
    from rnncalc.frameworks import keras as keras_adapter

    model = keras_adapter.build(spec_from_mapping(fields))
    assert model.count_params() == params
    assert {"output": tuple(model.output.shape)} == outputs


def test_real_torch_reproduces_the_course_shapes() -> None:
    for extra, output, h_n in [({}, (1, 10, 8), (1, 1, 8)), ({"num_layers": 2}, (1, 10, 8), (2, 1, 8))]:
        fields = {"cell": "lstm", "input_size": 5, "hidden_size": 8, "batch_first": True, "batch_size": 1}
        measured = dict(measure(spec_from_mapping({**fields, "seq_len": 10, **extra}), "torch").outputs)
        assert (measured["output"], measured["h_n"], measured["c_n"]) == (output, h_n, h_n)
    bi = {
        "cell": "rnn",
        "input_size": 5,
        "hidden_size": 8,
        "batch_first": True,
        "batch_size": 1,
        "seq_len": 10,
    }
    measured = dict(
        measure(spec_from_mapping({**bi, "num_layers": 2, "bidirectional": True}), "torch").outputs
    )
    assert (measured["output"], measured["h_n"]) == ((1, 10, 16), (4, 1, 8))
