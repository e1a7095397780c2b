"""Config files: every format, stdin, JSONL, and every error kind naming file, line and key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rnncalc.cli import cli
from rnncalc.core.spec import Cell
from rnncalc.io.config import BadEntry, ConfigError, ModelEntry, read_source, read_text

YAML_MODEL = """\
# models/encoder.yaml
name: encoder
embedding: {vocab_size: 20000, dim: 128}
layers:
  - {cell: lstm, hidden_size: 256, bidirectional: true}
  - {cell: gru, hidden_size: 128}
dense: [{units: 10}]
expect:
  keras: {params: 3596298}
  torch: {max_params: 2_000_000}
  outputs: {keras: {output: [null, 10]}}
"""

TOML_MODEL = """\
name = "encoder"

[embedding]
vocab_size = 20000
dim = 128

[[layers]]
cell = "lstm"
hidden_size = 256
bidirectional = true

[[layers]]
cell = "gru"
hidden_size = 128

[[dense]]
units = 10
"""


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _one(entries: list[ModelEntry | BadEntry]) -> ModelEntry:
    assert len(entries) == 1
    entry = entries[0]
    assert isinstance(entry, ModelEntry)
    return entry


def _error(tmp_path: Path, name: str, text: str) -> str:
    """The file's error: raised for the whole file, or the first bad model of a list."""
    try:
        entries = read_source(_write(tmp_path, name, text))
    except ConfigError as error:
        return str(error)
    bad = [entry for entry in entries if isinstance(entry, BadEntry)]
    assert bad, "expected an error"
    return str(bad[0].error)


def test_yaml_model_reads_embedding_layers_heads_and_expectations(tmp_path: Path) -> None:
    entry = _one(read_source(_write(tmp_path, "enc.yaml", YAML_MODEL)))
    model = entry.model
    assert model.name == "encoder"
    assert model.embedding is not None and model.embedding.vocab_size == 20000
    assert [spec.cell for spec in model.layers] == [Cell.LSTM, Cell.GRU]
    assert model.layers[0].bidirectional
    assert [head.units for head in model.dense] == [10]
    keras = entry.expectations().for_framework("keras")
    torch = entry.expectations().for_framework("torch")
    assert keras.params == 3596298
    assert torch.max_params == 2_000_000
    assert dict(keras.outputs) == {"output": (None, 10)}
    assert entry.line == 2


def test_json_and_toml_describe_the_same_model_as_yaml(tmp_path: Path) -> None:
    import yaml

    data = yaml.safe_load(YAML_MODEL)
    del data["expect"]
    from_json = _one(read_source(_write(tmp_path, "enc.json", json.dumps(data, indent=2)))).model
    from_toml = _one(read_source(_write(tmp_path, "enc.toml", TOML_MODEL))).model
    from_yaml = _one(read_source(_write(tmp_path, "enc.yml", yaml.safe_dump(data)))).model
    assert from_json == from_toml == from_yaml


def test_a_flat_spec_file_is_a_one_block_model(tmp_path: Path) -> None:
    model = _one(
        read_source(_write(tmp_path, "flat.yaml", "cell: lstm\nhidden_size: 8\ninput_size: 3\n"))
    ).model
    assert model.is_flat
    assert model.layers[0].input_size == 3


def test_a_list_and_a_models_mapping_hold_several_models(tmp_path: Path) -> None:
    listed = read_source(
        _write(tmp_path, "l.yaml", "- {cell: rnn, hidden_size: 2}\n- {cell: gru, hidden_size: 3}\n")
    )
    mapped = read_source(
        _write(
            tmp_path,
            "m.json",
            '{"models": [{"cell": "rnn", "hidden_size": 2}, {"cell": "gru", "hidden_size": 3}]}',
        )
    )
    assert [e.model.layers[0].cell for e in listed if isinstance(e, ModelEntry)] == [Cell.RNN, Cell.GRU]
    assert [e.model.layers[0].cell for e in mapped if isinstance(e, ModelEntry)] == [Cell.RNN, Cell.GRU]


def test_yaml_error_names_file_line_and_key_path(tmp_path: Path) -> None:
    text = (
        "models:\n  - name: a\n    layers:\n      - {cell: lstm, hidden_size: 8}\n"
        "      - cell: gru\n        hidden_size: 0\n"
    )
    message = _error(tmp_path, "a.yaml", text)
    assert message.endswith("a.yaml:6: models[0].layers[1].hidden_size: must be a positive integer, got 0")


def test_unknown_key_suggests_the_closest_field(tmp_path: Path) -> None:
    message = _error(tmp_path, "b.yaml", "cell: lstm\nhiden_size: 3\n")
    assert message.endswith("b.yaml:2: hiden_size: unknown key (did you mean 'hidden_size'?)")


def test_unknown_key_inside_a_layer_suggests_the_closest_layer_field(tmp_path: Path) -> None:
    message = _error(
        tmp_path, "c.yaml", "layers:\n  - cell: gru\n    hidden_size: 3\n    bidirectinal: true\n"
    )
    assert message.endswith("c.yaml:4: layers[0].bidirectinal: unknown field (did you mean 'bidirectional'?)")


def test_wrong_type_in_json_names_the_line_of_the_key(tmp_path: Path) -> None:
    text = (
        '{\n  "embedding": {"vocab_size": 10, "dim": 4},\n  "layers": [\n'
        '    {"cell": "lstm",\n     "hidden_size": "big"}\n  ]\n}\n'
    )
    message = _error(tmp_path, "d.json", text)
    assert message.endswith("d.json:5: layers[0].hidden_size: must be an integer, got 'big'")


def test_missing_required_field_in_toml_names_the_key(tmp_path: Path) -> None:
    message = _error(tmp_path, "e.toml", '[[layers]]\ncell = "lstm"\n\n[[dense]]\nunits = 4\n')
    assert message.endswith("e.toml:1: layers[0].hidden_size: is required")


def test_out_of_range_dense_units_in_toml_names_line_and_key(tmp_path: Path) -> None:
    message = _error(
        tmp_path, "f.toml", '[[layers]]\ncell = "gru"\nhidden_size = 3\n\n[[dense]]\nunits = 0\n'
    )
    assert message.endswith("f.toml:6: dense[0].units: must be a positive integer, got 0")


def test_expectation_errors_name_the_expect_key(tmp_path: Path) -> None:
    message = _error(tmp_path, "g.yaml", "cell: rnn\nhidden_size: 2\nexpect:\n  keras: {parms: 3}\n")
    assert message.endswith("g.yaml:4: expect.keras.parms: unknown key (did you mean 'params'?)")
    message = _error(tmp_path, "h.yaml", "cell: rnn\nhidden_size: 2\nexpect:\n  torch: {max_params: -1}\n")
    assert message.endswith("h.yaml:4: expect.torch.max_params: must be at least 1, got -1")


def test_invalid_syntax_reports_the_parsers_line(tmp_path: Path) -> None:
    assert "i.json:3: invalid JSON" in _error(
        tmp_path, "i.json", '{\n  "cell": "rnn",\n  "hidden_size": ,\n}'
    )
    assert "j.yaml:2: invalid YAML" in _error(tmp_path, "j.yaml", "cell: rnn\n  hidden_size: [\n")


def test_input_size_on_a_later_layer_is_rejected(tmp_path: Path) -> None:
    text = (
        "layers:\n  - {cell: lstm, hidden_size: 4, input_size: 3}\n"
        "  - {cell: gru, hidden_size: 2, input_size: 4}\n"
    )
    assert _error(tmp_path, "k.yaml", text).endswith(
        "k.yaml:3: layers[1].input_size: only the first layer takes input_size; "
        "later ones get the previous layer's output"
    )


def test_unknown_extension_is_an_error(tmp_path: Path) -> None:
    assert _error(tmp_path, "model.txt", "cell: rnn").endswith(
        "unknown file type; use .yaml, .yml, .json, .jsonl or .toml"
    )


def test_jsonl_bad_line_becomes_an_error_record_and_the_rest_still_read() -> None:
    text = (
        '{"cell": "rnn", "hidden_size": 2}\n{"cell": "rnn", "hidden_size": -1}\n'
        'not json\n{"cell": "gru", "hidden_size": 3}\n'
    )
    entries = read_text("<stdin>", text, kind="jsonl")
    assert [type(e).__name__ for e in entries] == ["ModelEntry", "BadEntry", "BadEntry", "ModelEntry"]
    bad = [e.error for e in entries if isinstance(e, BadEntry)]
    assert str(bad[0]) == "<stdin>:2: hidden_size: must be a positive integer, got -1"
    assert bad[1].line == 3 and "invalid JSON" in str(bad[1])


def test_summary_reads_a_yaml_file_from_stdin() -> None:
    result = CliRunner().invoke(cli, ["summary", "-", "-f", "json"], input=YAML_MODEL)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["name"] == "encoder"
    assert document["frameworks"]["keras"]["total_params"] == 3596298


def test_summary_of_a_flat_spec_file_prints_exactly_what_the_flags_print(tmp_path: Path) -> None:
    path = _write(tmp_path, "flat.toml", 'cell = "lstm"\nhidden_size = 8\ninput_size = 3\n')
    from_file = CliRunner().invoke(cli, ["summary", path, "-f", "json"])
    from_flags = CliRunner().invoke(cli, ["summary", "-c", "lstm", "-H", "8", "-i", "3", "-f", "json"])
    assert from_file.exit_code == 0
    assert from_file.output == from_flags.output


def test_flags_override_every_recurrent_layer_of_a_model_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "enc.yaml", YAML_MODEL)
    result = CliRunner().invoke(cli, ["summary", path, "--no-bias", "--batch", "4", "-f", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert [layer["bias"] for layer in document["model"]["layers"]] == [False, False]
    assert document["frameworks"]["keras"]["outputs"]["output"] == [4, 10]


def test_override_error_names_the_flag(tmp_path: Path) -> None:
    path = _write(tmp_path, "enc.yaml", YAML_MODEL)
    result = CliRunner().invoke(cli, ["summary", path, "--input", "7"])
    assert result.exit_code == 2
    assert "--input: the model starts with an embedding" in result.output


def test_file_error_is_one_line_with_exit_status_2(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.yaml", "layers:\n  - {cell: lstm, hidden_size: 0}\n")
    result = CliRunner().invoke(cli, ["summary", path])
    assert result.exit_code == 2
    assert (
        result.output
        == f"rnncalc: error: {path}:2: layers[0].hidden_size: must be a positive integer, got 0\n"
    )


@pytest.mark.parametrize("name", ["sentiment.yaml", "char_lm.toml"])
def test_summary_of_a_model_file_imports_no_framework_and_no_numpy(name: str) -> None:
    import subprocess
    import sys

    example = Path(__file__).resolve().parent.parent / "examples" / name
    code = (
        "import sys\nfrom rnncalc.cli import cli\n"
        f"cli.main(['summary', {str(example)!r}], prog_name='rnncalc', standalone_mode=False)\n"
        "print('MODULES=' + ','.join(sorted(m for m in sys.modules "
        "if m.split('.')[0] in {'torch', 'tensorflow', 'keras', 'numpy'})))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.rsplit("MODULES=", 1)[1].strip() == ""


def test_summary_table_of_a_model_lists_every_module_with_totals(run_cli: Any) -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "sentiment.yaml"
    result = run_cli("summary", str(example))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith("sentiment-bilstm: embedding 20000×128 → lstm 64 bi → dense 64 → dense 1\n")
    assert "PyTorch (nn.Module: Embedding → LSTM → Linear → Linear): 2,667,649 parameters" in out
    keras_title = "Keras 3 (Sequential: Embedding → Bidirectional(LSTM) → Dense → Dense)"
    assert f"{keras_title}: 2,667,137 parameters" in out
    assert "sequential/dense_1/kernel" not in out  # the table shows names inside each layer
    assert "PyTorch 2,667,649 vs Keras 2,667,137: layers[0] (lstm): PyTorch keeps two bias\n" in out


def test_toml_error_in_a_later_array_table_names_that_tables_line(tmp_path: Path) -> None:
    text = '[[layers]]\ncell = "lstm"\nhidden_size = 4\n\n[[layers]]\ncell = "gru"\nhidden_size = -2\n'
    assert _error(tmp_path, "l.toml", text).endswith(
        "l.toml:7: layers[1].hidden_size: must be a positive integer, got -2"
    )


def test_keras_json_with_an_unsupported_layer_read_from_stdin_names_the_layer() -> None:
    document = {
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [
                {"class_name": "InputLayer", "config": {"batch_shape": [None, 5, 3]}},
                {"class_name": "Conv1D", "config": {"name": "conv"}},
            ],
        },
    }
    with pytest.raises(ConfigError) as info:
        read_text("<stdin>", json.dumps(document, indent=1), kind="json")
    assert "config.layers[1]: unsupported layer Conv1D 'conv'; rnncalc reads InputLayer" in str(info.value)


def test_duplicate_keys_are_errors_not_silently_overwritten(tmp_path: Path) -> None:
    assert _error(tmp_path, "m.yaml", "cell: rnn\nhidden_size: 2\nhidden_size: 3\n").endswith(
        "m.yaml:3: hidden_size: duplicate key"
    )
    text = '{"layers": [{"cell": "gru",\n "cell": "lstm", "hidden_size": 2}]}'
    assert _error(tmp_path, "n.json", text).endswith("n.json:2: layers[0].cell: duplicate key")
