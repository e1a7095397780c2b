"""Config reading details the mutation run found unpinned: what stdin is read as, JSONL labels and
errors, and the kind of value an error names ("got a list").

Expected values are written out here; the surface is the CLI (``summary`` stderr and
``check --format json``), so the tests hold whatever module reads the files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def checked_models(run_cli: Callable[..., Any], text: str) -> list[tuple[str, str]]:
    result = run_cli("check", "-", "--against", "none", "--format", "json", input=text)
    assert result.exit_code == 0, result.stderr
    return [(model["name"], model["source"]) for model in json.loads(result.stdout)["models"]]


def test_stdin_with_one_json_object_a_line_is_read_as_jsonl(run_cli: Callable[..., Any]) -> None:
    text = '{"cell": "lstm", "hidden_size": 4}\n\n{"cell": "gru", "hidden_size": 3}\n'
    assert checked_models(run_cli, text) == [("line 1", "<stdin>:1"), ("line 3", "<stdin>:3")]


def test_stdin_with_one_json_object_over_several_lines_is_one_model(run_cli: Callable[..., Any]) -> None:
    assert checked_models(run_cli, '{"cell": "lstm",\n "hidden_size": 4}\n') == [("<stdin>:1", "<stdin>:1")]


def test_stdin_with_a_json_list_over_several_lines_is_a_list_of_models(run_cli: Callable[..., Any]) -> None:
    text = '[\n{"cell": "lstm", "hidden_size": 4},\n{"cell": "gru", "hidden_size": 3}\n]\n'
    assert checked_models(run_cli, text) == [("[0]", "<stdin>:2"), ("[1]", "<stdin>:3")]


def test_stdin_in_yaml_is_read_as_yaml(run_cli: Callable[..., Any]) -> None:
    assert checked_models(run_cli, "cell: lstm\nhidden_size: 4\n") == [("<stdin>:1", "<stdin>:1")]


def test_a_single_json_object_on_one_line_of_stdin_is_one_model(run_cli: Callable[..., Any]) -> None:
    # A first line that is a JSON object makes stdin JSONL (docs/configs.md): line 1 is the model.
    assert checked_models(run_cli, '{"cell": "lstm", "hidden_size": 4}\n') == [("line 1", "<stdin>:1")]


def test_a_jsonl_line_that_is_not_an_object_is_named_with_its_line(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    path = tmp_path / "models.jsonl"
    path.write_text('{"cell": "lstm", "hidden_size": 4}\n[1, 2]\n', encoding="utf-8")
    result = run_cli("summary", str(path))
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"rnncalc: error: {path}:2: each line must be one JSON object (a model or flat spec)\n"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("layers: 5\n", "<stdin>:1: layers: must be a list of layers, got an integer"),
        ("layers: {cell: lstm}\n", "<stdin>:1: layers: must be a list of layers, got a mapping"),
        (
            'layers: [{cell: lstm, hidden_size: 2}]\ndense: "x"\n',
            "<stdin>:2: dense: must be a list of heads, got a string",
        ),
        ("- true\n", "<stdin>:1: [0]: must be a model (a mapping), got a boolean"),
        ("- [1]\n", "<stdin>:1: [0]: must be a model (a mapping), got a list"),
        ("3.5\n", "<stdin>:1: expected a model, a list of models or a mapping with models:, got a number"),
        ('"s"\n', "<stdin>:1: expected a model, a list of models or a mapping with models:, got a string"),
        ("models: 7\n", "<stdin>:1: models: must be a list of models, got an integer"),
        ("name: [1]\ncell: lstm\nhidden_size: 2\n", "<stdin>:1: name: must be a string, got a list"),
    ],
)
def test_an_error_names_the_kind_of_value_it_got(
    run_cli: Callable[..., Any], text: str, message: str
) -> None:
    result = run_cli("summary", "-", input=text)
    assert result.exit_code == 2
    assert result.stderr == f"rnncalc: error: {message}\n"


def test_stdin_is_jsonl_when_its_first_line_is_an_object_even_if_a_later_line_is_bad(
    run_cli: Callable[..., Any],
) -> None:
    text = '{"cell": "lstm", "hidden_size": 4}\n[1, 2]\n'
    result = run_cli("check", "-", "--against", "none", "--format", "json", input=text)
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert [model["name"] for model in document["models"]] == ["line 1"]
    assert [(error["line"], error["message"]) for error in document["errors"]] == [
        (2, "each line must be one JSON object (a model or flat spec)")
    ]
