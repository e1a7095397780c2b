"""``rnncalc check FILE...``: every format, stdin, bad inputs next to good ones, exit status,
budgets from the command line, and model files cross-checked against the real frameworks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from rnncalc.cli import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# Keras: embedding 20000*128 + bi-LSTM 2*4*(128*256 + 256*256 + 256) + GRU 3*(512*128 + 128*128
# + 2*128) + Dense 128*10 + 10 = 3,596,298; PyTorch adds 2*4*256 LSTM biases: 3,598,346.
ENCODER = """\
name: encoder
embedding: {vocab_size: 20000, dim: 128}
layers:
  - {cell: lstm, hidden_size: 256, bidirectional: true}
  - {cell: gru, hidden_size: 128}
dense: [{units: 10}]
expect:
  keras: {params: 1234567}
  torch: {max_params: 2_000_000}
  outputs: {keras: {output: [null, 10]}}
"""
GOOD = """\
name: small
cell: gru
hidden_size: 4
input_size: 3
expect:
  keras: {params: 108}
  torch: {params: 108}
"""
BAD = "layers:\n  - {cell: lstm, hidden_size: 0}\n"


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["check", *args], input=input)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name, text in {"encoder.yaml": ENCODER, "good.yaml": GOOD, "bad.yaml": BAD}.items():
        (tmp_path / name).write_text(text)
        paths[name] = str(tmp_path / name)
    return paths


def test_all_models_meeting_expectations_exit_0_with_one_line_each(files: dict[str, str]) -> None:
    result = run(files["good.yaml"], "--against", "none")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"ok           small ({files['good.yaml']}:1): torch 108; keras 108\n"


def test_over_budget_and_mismatch_exit_1_naming_the_numbers(files: dict[str, str]) -> None:
    result = run(files["good.yaml"], files["encoder.yaml"], "--against", "none")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ok           small")
    assert lines[1] == (
        f"mismatch     encoder ({files['encoder.yaml']}:1): "
        "torch: over budget: params 3,598,346 > max_params 2,000,000 (+1,598,346); "
        "keras: mismatch: params 3,596,298, expected 1,234,567 (+2,361,731)"
    )
    assert "check failed: 1 of 2 model(s)" in result.stderr


def test_a_bad_file_is_reported_the_others_still_run_and_the_exit_is_2(files: dict[str, str]) -> None:
    result = run(files["bad.yaml"], files["good.yaml"], "--against", "none")
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"error        {files['bad.yaml']}:2: layers[0].hidden_size: must be a positive integer, got 0"
    )
    assert lines[1].startswith("ok           small")


def test_max_params_on_the_command_line_is_a_budget_for_every_model(files: dict[str, str]) -> None:
    result = run(files["good.yaml"], "--max-params", "100", "--against", "none")
    assert result.exit_code == 1
    assert "torch: over budget: params 108 > max_params 100 (+8)" in result.stdout


def test_json_format_is_one_document_with_models_and_errors(files: dict[str, str]) -> None:
    result = run(files["encoder.yaml"], files["bad.yaml"], "-f", "json", "--against", "none")
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["ok"] is False
    (model,) = document["models"]
    assert model["name"] == "encoder" and model["status"] == "failed"
    assert model["spec"] is None and model["model"]["embedding"] == {"vocab_size": 20000, "dim": 128}
    assert model["frameworks"]["keras"]["params"] == 3596298
    (error,) = document["errors"]
    assert (error["line"], error["key"]) == (2, "layers[0].hidden_size")


def test_jsonl_format_streams_one_object_per_model_and_per_bad_input(files: dict[str, str]) -> None:
    result = run(
        files["good.yaml"], files["bad.yaml"], files["encoder.yaml"], "-f", "jsonl", "--against", "none"
    )
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [record["status"] for record in records] == ["ok", "error", "failed"]
    assert records[1]["file"] == files["bad.yaml"] and records[1]["line"] == 2


def test_github_format_annotates_the_line_of_each_failing_expectation(files: dict[str, str]) -> None:
    result = run(files["encoder.yaml"], files["bad.yaml"], "-f", "github", "--against", "none")
    assert result.exit_code == 2
    path = files["encoder.yaml"].replace(":", "%3A")
    bad = files["bad.yaml"].replace(":", "%3A")
    assert result.stdout.splitlines() == [
        f"::error file={path},line=9::encoder: torch: over budget: params 3,598,346 > max_params 2,000,000 "
        "(+1,598,346)",
        f"::error file={path},line=8::encoder: keras: mismatch: params 3,596,298, expected 1,234,567 "
        "(+2,361,731)",
        f"::error file={bad},line=2::layers[0].hidden_size: must be a positive integer, got 0",
    ]


def test_jsonl_on_stdin_bad_lines_yield_error_records_with_their_line_numbers() -> None:
    rows = [{"cell": "lstm", "hidden_size": 8, "input_size": 4, "name": f"m{i}"} for i in range(5)]
    text = "\n".join(json.dumps(row) for row in rows)
    text = text.replace('"hidden_size": 8, "input_size": 4, "name": "m2"', '"hidden_size": -8, "name": "m2"')
    text += '\n{"cell": "lstm", "hiden_size": 3}\nnot json\n'
    result = run("-", "-f", "jsonl", "--against", "none", input=text)
    assert result.exit_code == 2
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r.get("name") or r["status"] for r in records] == [
        "m0",
        "m1",
        "error",
        "m3",
        "m4",
        "error",
        "error",
    ]
    assert [r["error"] for r in records if r["status"] == "error"] == [
        "<stdin>:3: hidden_size: must be a positive integer, got -8",
        "<stdin>:6: hiden_size: unknown key (did you mean 'hidden_size'?)",
        "<stdin>:7: invalid JSON: Expecting value",
    ]


def test_ten_thousand_flat_specs_on_stdin_are_checked_in_one_process() -> None:
    cells = ["rnn", "lstm", "gru"]
    rows = [
        json.dumps(
            {
                "cell": cells[i % 3],
                "hidden_size": 1 + i % 64,
                "input_size": 1 + i % 7,
                "bidirectional": i % 2 == 1,
            }
        )
        for i in range(10_000)
    ]
    rows[4_999] = '{"cell": "lstm", "hidden_size": 0}'
    result = run("-", "-f", "jsonl", "--against", "none", "--max-params", "100k", input="\n".join(rows))
    assert result.exit_code == 2
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 10_000
    assert records[4_999]["line"] == 5_000 and records[4_999]["status"] == "error"
    # Independent closed form for line 1 (rnn, H=1, I=1, uni): PyTorch 1*1 + 1*1 + 2 = 4.
    assert records[0]["frameworks"]["torch"]["params"] == 4
    assert sum(r["status"] == "ok" for r in records) == 9_999


def test_flags_with_files_override_every_layer_and_several_values_are_refused(files: dict[str, str]) -> None:
    result = run(files["encoder.yaml"], "--no-bias", "-f", "json", "--against", "none")
    document = json.loads(result.stdout)
    assert [layer["bias"] for layer in document["models"][0]["model"]["layers"]] == [False, False]
    refused = run(files["good.yaml"], "--hidden", "4,8", "--against", "none")
    assert refused.exit_code == 2
    assert "--hidden: takes one value with files, got 2" in refused.stderr


def test_example_files_pass_against_the_real_frameworks() -> None:
    paths = sorted(str(path) for path in EXAMPLES.iterdir() if path.suffix != ".ipynb")  # configs only
    result = run(*paths, "--against", "torch,keras", "-f", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    for model in document["models"]:
        for framework in ("torch", "keras"):
            crosscheck = model["frameworks"][framework]["crosscheck"]
            assert crosscheck["status"] == "ok"
            assert all(row["ok"] for row in crosscheck["rows"])
            assert any(row["kind"] == "weight" for row in crosscheck["rows"])


def test_checking_files_against_none_imports_no_framework_and_no_numpy() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom rnncalc.cli import cli\n"
        f"cli.main(['check', {str(EXAMPLES / 'sentiment.yaml')!r}, '--against', 'none'], "
        "prog_name='rnncalc', standalone_mode=False)\n"
        "print('MODULES=' + ','.join(sorted(m for m in sys.modules "
        "if m.split('.')[0] in {'torch', 'tensorflow', 'keras', 'numpy'})))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.stdout.rsplit("MODULES=", 1)[1].strip() == ""
