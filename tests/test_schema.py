"""The JSON Schema of config files (rnncalc/schema.json): shipped, printed by `rnncalc schema`,
valid, met by every example and documented config, and in step with the reader.

The reader never uses jsonschema (it stays light and gives its own ``file:line: key`` errors);
these tests hold the two to the same keys. tests/conftest.py also checks every model the reader
accepts anywhere in the suite against the schema.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from rnncalc.core.model import LAYER_FIELDS, PART_FIELDS, Embedding
from rnncalc.core.parts import DenseActivation, PartKind
from rnncalc.core.spec import CELL_ALIASES, SPEC_FIELDS, Activation, MergeMode, Nonlinearity

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "rnncalc" / "schema.json").read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA)
DEFS = SCHEMA["$defs"]


def _load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        tomllib = pytest.importorskip("tomllib")
        return tomllib.loads(text)
    return yaml.safe_load(text)


def _errors(document: Any) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(document)]


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_rnncalc_schema_prints_the_packaged_file(run_cli: Callable[..., Any]) -> None:
    result = run_cli("schema")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == SCHEMA
    assert result.stderr == ""


def test_the_wheel_declares_the_schema_as_package_data() -> None:
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "schema.json" in pyproject["tool"]["setuptools"]["package-data"]["rnncalc"]
    assert any(dep.startswith("jsonschema") for dep in pyproject["project"]["optional-dependencies"]["test"])


EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if p.suffix in (".yaml", ".yml", ".toml", ".json"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_validates_against_the_schema(path: Path) -> None:
    assert _errors(_load(path)) == []


def _doc_configs() -> list[tuple[str, str, str]]:
    """(where, language, text) of every YAML/TOML/JSON block in README.md and docs/ that holds a
    model (a ``cell`` or ``layers`` key)."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"```(yaml|toml|json)\n(.*?)```", text, re.S):
            body = match.group(2)
            if re.search(r"^\s*-?\s*\{?\s*(cell|layers|\[\[layers\]\])\b", body, re.M) or "cell" in body:
                line = text[: match.start()].count("\n") + 1
                found.append((f"{path.name}:{line}", match.group(1), body))
    return found


DOC_CONFIGS = _doc_configs()


@pytest.mark.parametrize("where,language,text", DOC_CONFIGS, ids=[c[0] for c in DOC_CONFIGS])
def test_every_model_in_the_docs_that_the_reader_accepts_validates(
    where: str, language: str, text: str, tmp_path: Path
) -> None:
    from rnncalc.io.config import BadEntry, read_text

    if language == "toml" and sys.version_info < (3, 11):
        pytest.skip("tomllib is Python 3.11's")
    entries = read_text(where, text, language)
    assert entries and not any(isinstance(entry, BadEntry) for entry in entries), where
    document = json.loads(text) if language == "json" else _load_text(language, text)
    assert _errors(document) == [], where


def _load_text(language: str, text: str) -> Any:
    if language == "toml":
        import tomllib

        return tomllib.loads(text)
    return yaml.safe_load(text)


def test_the_docs_show_models_with_the_new_parts() -> None:
    assert any("layer_norm" in text for _, _, text in DOC_CONFIGS)


# --- The schema and the reader accept the same keys ----------------------------------------------


def _properties(name: str) -> set[str]:
    return set(DEFS[name]["properties"])


def test_a_model_takes_the_same_keys_in_the_schema_and_the_reader() -> None:
    from rnncalc.io.config import MODEL_KEYS

    assert _properties("model") == {*MODEL_KEYS, *SPEC_FIELDS}


def test_each_part_kind_takes_the_same_keys_in_the_schema_and_the_reader() -> None:
    assert _properties("recurrent") == {"kind", *LAYER_FIELDS}
    assert _properties("layer_norm") == {"kind", *PART_FIELDS[PartKind.LAYER_NORM]}
    assert _properties("dropout") == {"kind", *PART_FIELDS[PartKind.DROPOUT]}
    assert _properties("dense_layer") == _properties("dense_head") == {"kind", *PART_FIELDS[PartKind.DENSE]}
    embedding = DEFS["model"]["properties"]["embedding"]
    assert set(embedding["properties"]) == {field.name for field in dataclasses.fields(Embedding)}


def test_the_expect_block_takes_the_same_keys_in_the_schema_and_the_reader() -> None:
    from rnncalc import frameworks
    from rnncalc.check.model import _EXPECT_KEYS

    assert _properties("expect") == {*frameworks.names(), "outputs", "max_params"}
    assert set(DEFS["expect"]["properties"]["outputs"]["properties"]) == set(frameworks.names())
    assert _properties("framework_expectation") == set(_EXPECT_KEYS)


def _enum(schema: dict[str, Any]) -> list[Any]:
    """The completion list of an enum field (the lower-case values, before the any-case pattern)."""
    options = schema.get("anyOf", [schema])
    return (
        next(option["enum"] for option in options if "enum" in option)
        if "enum" not in schema
        else schema["enum"]
    )


def test_the_schema_lists_the_values_the_reader_knows() -> None:
    model = DEFS["model"]["properties"]
    assert _enum(model["cell"]) == list(CELL_ALIASES)
    assert _enum(model["nonlinearity"]) == [n.value for n in Nonlinearity]
    assert _enum(model["merge_mode"]["anyOf"][0]) == [m.value for m in MergeMode]
    assert _enum(model["activation"]["anyOf"][0]) == [a.value for a in Activation]
    dense = DEFS["dense_head"]["properties"]["activation"]
    assert _enum(dense["anyOf"][0]) == [a.value for a in DenseActivation]
    kinds = {
        DEFS[name]["properties"]["kind"]["const"]
        for name in ("recurrent", "layer_norm", "dropout", "dense_layer")
    }
    assert kinds == {kind.value for kind in PartKind} - {"embedding"}


@pytest.mark.parametrize("value", ["LSTM", " Gru ", "Simple_RNN"])
def test_cell_names_in_any_case_pass_both_the_reader_and_the_schema(value: str) -> None:
    from rnncalc.core.spec import parse_cell

    parse_cell(value)
    assert _errors({"cell": value, "hidden_size": 4}) == []


# --- Invalid configs: the schema refuses them, and the reader with its own one-line error -------

TAGGER = """\
name: tagger
embedding: {vocab_size: 100, dim: 8}
layers:
  - {cell: lstm, hidden_size: 6, bidirectional: true}
  - {kind: layer_norm, epsilon: 1.0e-5}
  - {kind: dropout, rate: 0.1}
dense:
  - {units: 3, activation: softmax, per_step: true}
"""

INVALID = {
    # case: (the text replaced, its replacement, the line:key the reader names)
    "unknown_part_key": ("epsilon: 1.0e-5", "epsilon: 1.0e-5, center: true", "5: layers[1].center"),
    "unknown_kind": ("kind: dropout", "kind: dropuot", "6: layers[2].kind"),
    "rate_out_of_range": ("rate: 0.1", "rate: 1.5", "6: layers[2].rate"),
    "epsilon_not_a_number": ("epsilon: 1.0e-5", "epsilon: small", "5: layers[1].epsilon"),
    "unknown_activation": ("activation: softmax", "activation: softmax2", "8: dense[0].activation"),
    "per_step_not_a_boolean": ("per_step: true", "per_step: yes please", "8: dense[0].per_step"),
    "dense_without_units": ("units: 3, ", "", "8: dense[0].units"),
    "recurrent_kind_in_dense": ("{units: 3,", "{kind: recurrent, units: 3,", "8: dense[0].kind"),
}


def test_the_valid_tagger_passes_both() -> None:
    from rnncalc.io.config import ModelEntry, read_text

    assert _errors(yaml.safe_load(TAGGER)) == []
    (entry,) = read_text("tagger.yaml", TAGGER, "yaml")
    assert isinstance(entry, ModelEntry)


@pytest.mark.parametrize("case", list(INVALID))
def test_an_invalid_config_fails_the_schema_and_the_reader_names_file_line_and_key(
    case: str, tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    old, new, named = INVALID[case]
    assert old in TAGGER
    text = TAGGER.replace(old, new, 1)
    assert _errors(yaml.safe_load(text)), f"the schema accepts {case}"
    path = tmp_path / "tagger.yaml"
    path.write_text(text)
    result = run_cli("summary", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"rnncalc: error: {path}:{named}: "), lines[0]
