"""A bad config names the right line in every format: list items, nested mappings, flow and block.

Each case marks its offending line with a needle that occurs on that line only; the expected
line number is found by searching the text, never taken from the reader. Both surfaces that
report positions are checked: ``summary``'s stderr line and ``check --format json``'s errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class Case:
    suffix: str
    text: str
    key: str
    needle: str  # occurs on the offending line only

    def expected_line(self) -> int:
        lines = [n for n, line in enumerate(self.text.splitlines(), start=1) if self.needle in line]
        assert len(lines) == 1, f"needle {self.needle!r} must mark exactly one line, found {lines}"
        return lines[0]


CASES: dict[str, Case] = {
    # --- YAML, block style ----------------------------------------------------------------
    "yaml-block-second-item-of-a-nested-list-misses-a-key": Case(
        "yaml",
        """\
models:
  - name: first
    layers:
      - cell: lstm
        hidden_size: 4
  - name: second
    layers:
      - cell: lstm
        hidden_size: 4
      - cell: gru
        bidirectional: true
""",
        "models[1].layers[1].hidden_size",
        "- cell: gru",
    ),
    "yaml-block-item-whose-dash-stands-alone": Case(
        "yaml",
        """\
- name: x
  layers:
    - cell: lstm
      hidden_size: 4
    -
      cell: gru
      bias: true
""",
        "[0].layers[1].hidden_size",
        "cell: gru",
    ),
    "yaml-block-bad-value-in-a-list-item": Case(
        "yaml",
        """\
models:
  - name: a
    layers:
      - {cell: lstm, hidden_size: 4}
      - cell: gru
        hidden_size: 0
""",
        "models[0].layers[1].hidden_size",
        "hidden_size: 0",
    ),
    "yaml-block-nested-mapping-value": Case(
        "yaml",
        """\
name: nested
embedding:
  vocab_size: 100
  dim: -2
layers:
  - {cell: gru, hidden_size: 4}
""",
        "embedding.dim",
        "dim: -2",
    ),
    "yaml-block-list-item-that-is-not-a-mapping": Case(
        "yaml",
        """\
models:
  - name: a
    cell: lstm
    hidden_size: 4
  - just a string
""",
        "models[1]",
        "just a string",
    ),
    "yaml-block-dense-head-in-a-list": Case(
        "yaml",
        """\
layers:
  - {cell: lstm, hidden_size: 4, input_size: 3}
dense:
  - {units: 5}
  - units: 0
""",
        "dense[1].units",
        "units: 0",
    ),
    "yaml-block-expect-three-levels-deep": Case(
        "yaml",
        """\
cell: lstm
hidden_size: 4
input_size: 3
expect:
  torch:
    params: 144
  keras:
    max_params: lots
""",
        "expect.keras.max_params",
        "max_params: lots",
    ),
    # --- YAML, flow style ------------------------------------------------------------------
    "yaml-flow-list-spread-over-lines": Case(
        "yaml",
        """\
models:
  - name: a
    layers: [
      {cell: lstm, hidden_size: 4},
      {cell: gru}
    ]
""",
        "models[0].layers[1].hidden_size",
        "{cell: gru}",
    ),
    "yaml-flow-item-that-is-not-a-mapping": Case(
        "yaml",
        """\
name: a
layers: [
  {cell: lstm, hidden_size: 4},
  7
]
""",
        "layers[1]",
        "  7",
    ),
    # --- JSON ------------------------------------------------------------------------------
    "json-pretty-second-item-of-a-nested-list-misses-a-key": Case(
        "json",
        """\
{
  "models": [
    {"name": "a", "layers": [{"cell": "lstm", "hidden_size": 4}]},
    {
      "name": "b",
      "layers": [
        {"cell": "lstm", "hidden_size": 4},
        {"cell": "gru",
         "bias": true}
      ]
    }
  ]
}
""",
        "models[1].layers[1].hidden_size",
        '{"cell": "gru",',
    ),
    "json-compact-items-one-per-line": Case(
        "json",
        """\
{"models": [
  {"name": "a", "layers": [
     {"cell": "lstm", "hidden_size": 4},
     {"cell": "gru"}
  ]}
]}
""",
        "models[0].layers[1].hidden_size",
        '{"cell": "gru"}',
    ),
    "json-bad-value-in-a-nested-mapping": Case(
        "json",
        """\
{
  "name": "nested",
  "embedding": {
    "vocab_size": 100,
    "dim": 0
  },
  "layers": [{"cell": "gru", "hidden_size": 4}]
}
""",
        "embedding.dim",
        '"dim": 0',
    ),
    "json-list-item-that-is-not-a-mapping": Case(
        "json",
        """\
[
  {"cell": "lstm", "hidden_size": 4},
  "oops"
]
""",
        "[1]",
        '"oops"',
    ),
    "json-compact-third-item-after-an-empty-list": Case(
        "json",
        """\
{"models":[
{"cell":"lstm","hidden_size":4,"input_size":3},
{"layers":[{"cell":"gru","hidden_size":3,"input_size":2}],"dense":[]},
{"cell":"rnn","bias":true}
]}
""",
        "models[2].hidden_size",
        '{"cell":"rnn",',
    ),
    "json-after-a-leading-blank-line": Case(
        "json",
        """\

{"cell": "lstm",
 "hidden_size": -4}
""",
        "hidden_size",
        '"hidden_size": -4',
    ),
    # --- TOML ------------------------------------------------------------------------------
    "toml-array-of-tables-second-item-misses-a-key": Case(
        "toml",
        """\
[[models]]
name = "a"

[[models.layers]]
cell = "lstm"
hidden_size = 4

[[models.layers]]  # second
cell = "gru"
""",
        "models[0].layers[1].hidden_size",
        "# second",
    ),
    "toml-bad-value-in-a-nested-table": Case(
        "toml",
        """\
name = "nested"

[embedding]
vocab_size = 100
dim = 0

[[layers]]
cell = "gru"
hidden_size = 4
""",
        "embedding.dim",
        "dim = 0",
    ),
    "toml-bad-value-in-the-second-layer": Case(
        "toml",
        """\
[[layers]]
cell = "lstm"
hidden_size = 4

[[layers]]
cell = "gru"
hidden_size = -1
""",
        "layers[1].hidden_size",
        "hidden_size = -1",
    ),
    "toml-missing-key-after-leading-comments": Case(
        "toml",
        """\
# a comment

# another
cell = "lstm"
bias = true
""",
        "hidden_size",
        'cell = "lstm"',
    ),
    "toml-inline-tables-second-item-spread-over-lines": Case(
        "toml",
        """\
name = "inline"
layers = [
  {cell = "lstm", hidden_size = 4},
  {cell = "gru", hidden_size = -1},
]
""",
        "layers[1].hidden_size",
        '"gru"',
    ),
    "toml-inline-tables-third-item-after-two-on-one-line": Case(
        "toml",
        """\
layers = [{cell = "lstm", hidden_size = 4}, {cell = "gru", hidden_size = 4},
  # a comment with { and [ in it
  {cell = "rnn"},
]
""",
        "layers[2].hidden_size",
        '"rnn"',
    ),
    "toml-inline-heads-after-a-string-with-brackets": Case(
        "toml",
        """\
name = "heads [{"
layers = [{cell = "lstm", hidden_size = 4}]
dense = [
  {units = 8, activation = "relu"}, {units = 4, activation = "tanh"},
  {units = 0},
]
""",
        "dense[2].units",
        "{units = 0}",
    ),
    "toml-inline-tables-inside-the-second-table-of-an-array": Case(
        "toml",
        """\
[[models]]
name = "a"
layers = [
  {cell = "lstm", hidden_size = 4},
  {cell = "gru", hidden_size = 4},
]

[[models]]
name = "b"
layers = [
  {cell = "lstm", hidden_size = 4},
  {cell = "gru", hidden_size = 0},
]
""",
        "models[1].layers[1].hidden_size",
        "hidden_size = 0",
    ),
    "toml-nested-table-of-the-second-table-of-an-array": Case(
        "toml",
        """\
[[models]]
name = "a"
layers = [{cell = "lstm", hidden_size = 4}]
[models.embedding]
vocab_size = 100
dim = 8

[[models]]
name = "b"
layers = [{cell = "lstm", hidden_size = 4}]
[models.embedding]
vocab_size = 100
dim = -8
""",
        "models[1].embedding.dim",
        "dim = -8",
    ),
    "yaml-flow-third-item-after-two-on-one-line": Case(
        "yaml",
        """\
layers: [{cell: lstm, hidden_size: 4}, {cell: gru, hidden_size: 4},
  {cell: rnn}]
""",
        "layers[2].hidden_size",
        "{cell: rnn}",
    ),
    "yaml-flow-list-inside-the-second-model": Case(
        "yaml",
        """\
models:
  - name: a
    layers: [
      {cell: lstm, hidden_size: 4},
      {cell: gru, hidden_size: 4},
    ]
  - name: b
    layers: [
      {cell: lstm, hidden_size: 4},
      {cell: gru, hidden_size: 0},
    ]
""",
        "models[1].layers[1].hidden_size",
        "hidden_size: 0",
    ),
    "yaml-nested-mapping-of-the-second-model": Case(
        "yaml",
        """\
models:
  - name: a
    layers: [{cell: lstm, hidden_size: 4}]
    embedding: {vocab_size: 100, dim: 8}
  - name: b
    layers: [{cell: lstm, hidden_size: 4}]
    embedding:
      vocab_size: 100
      dim: -8
""",
        "models[1].embedding.dim",
        "dim: -8",
    ),
    # --- JSONL: one record a line ------------------------------------------------------------
    "jsonl-third-line": Case(
        "jsonl",
        '{"cell": "lstm", "hidden_size": 4}\n\n{"cell": "gru", "hidden_size": 0}\n',
        "hidden_size",
        '"gru"',
    ),
}


def test_every_needle_marks_exactly_one_line() -> None:
    for case in CASES.values():
        assert case.expected_line() >= 1


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, Case], str]:
    def write_case(name: str, case: Case) -> str:
        path = tmp_path / f"{name}.{case.suffix}"
        path.write_text(case.text, encoding="utf-8")
        return str(path)

    return write_case


@pytest.mark.parametrize("name", sorted(CASES))
def test_summary_names_the_offending_line_and_key(
    run_cli: Callable[..., Any], write: Callable[[str, Case], str], name: str
) -> None:
    case = CASES[name]
    path = write(name, case)
    result = run_cli("summary", path)
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    match = re.search(rf"^rnncalc: error: {re.escape(path)}:(\d+): (\S+): ", result.stderr, re.MULTILINE)
    assert match, result.stderr
    assert (int(match.group(1)), match.group(2)) == (case.expected_line(), case.key), result.stderr


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_json_reports_the_same_line_and_key(
    run_cli: Callable[..., Any], write: Callable[[str, Case], str], name: str
) -> None:
    case = CASES[name]
    path = write(name, case)
    result = run_cli("check", path, "--against", "none", "--format", "json")
    assert result.exit_code == 2
    errors = json.loads(result.stdout)["errors"]
    assert [(e["file"], e["line"], e["key"]) for e in errors] == [(path, case.expected_line(), case.key)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_github_annotates_the_offending_line(
    run_cli: Callable[..., Any], write: Callable[[str, Case], str], name: str
) -> None:
    case = CASES[name]
    path = write(name, case)
    result = run_cli("check", path, "--against", "none", "--format", "github")
    assert result.exit_code == 2
    assert result.stdout.startswith(f"::error file={path},line={case.expected_line()}::{case.key}: ")


SYNTAX_ERRORS = {
    "toml": ('cell = "lstm"\nhidden_size = = 3\n', 2, "invalid TOML"),
    "json": ('{"cell": "lstm",\n "hidden_size": 4,,\n}\n', 2, "invalid JSON"),
    "yaml": ("cell: lstm\nhidden_size: [4\nbias: true\n", 3, "invalid YAML"),
}


@pytest.mark.parametrize("suffix", sorted(SYNTAX_ERRORS))
def test_a_syntax_error_names_the_line_the_parser_stopped_on(
    run_cli: Callable[..., Any], tmp_path: Path, suffix: str
) -> None:
    text, line, message = SYNTAX_ERRORS[suffix]
    path = tmp_path / f"bad.{suffix}"
    path.write_text(text, encoding="utf-8")
    result = run_cli("summary", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"rnncalc: error: {path}:{line}: {message}: "), result.stderr
