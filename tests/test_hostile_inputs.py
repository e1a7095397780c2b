"""Issue 11's attack list, one test per class of input: bad input is one stderr line and exit 2,
one bad model never hides the good ones, and nothing is silently misread.

Each case is run through the real CLI in-process (click's runner); what must hold of time and
memory is tested in subprocesses in test_hostile_bounds.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from rnncalc import frameworks
from rnncalc.cli import cli

HAS_TORCH = frameworks.get("torch").is_installed()
OK_YAML = "cell: lstm\nhidden_size: 8\ninput_size: 5\n"


def run(*args: str, input: bytes | str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, prog_name="rnncalc")


def assert_one_error(result: Result, *expected: str) -> str:
    """Exit 2, nothing on stdout, exactly one ``rnncalc: error:`` line holding ``expected``."""
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rnncalc: error: ")
    for text in expected:
        assert text in lines[0]
    return lines[0]


def write(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


def checked_lines(result: Result) -> list[str]:
    """The ``lines`` format's records, without the stderr summary."""
    return result.stdout.splitlines()


# --- Tracebacks become one line; in check the other inputs still run ------------------------


def test_a_non_utf8_file_is_one_error_and_the_next_file_is_still_checked(tmp_path: Path) -> None:
    bad = write(tmp_path, "u.yaml", b"cell: lstm\nhidden_size: 8\n\xff\n")
    good = write(tmp_path, "ok.yaml", OK_YAML)
    result = run("check", "--against", "none", bad, good)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    lines = checked_lines(result)
    assert lines[0].startswith("error") and "u.yaml:3: not valid UTF-8 (byte ff at column 1)" in lines[0]
    assert lines[1].startswith("ok") and "ok.yaml" in lines[1]


def test_one_bad_model_in_a_list_leaves_the_others_in_the_file_checked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "list.yaml",
        "models:\n  - {cell: lstm, hidden_size: 8}\n  - {cell: lstm, hidden_size: 1.5}\n"
        "  - [not, a, model]\n  - {cell: gru, hidden_size: 4}\n",
    )
    result = run("check", "--against", "none", path)
    assert result.exit_code == 2
    assert [line.split()[0] for line in checked_lines(result)] == ["ok", "error", "error", "ok"]
    assert "list.yaml:3: models[1].hidden_size: must be an integer" in result.stdout


def test_a_non_utf8_lengths_file_names_its_line(tmp_path: Path) -> None:
    lengths = write(tmp_path, "len.txt", b"12\n\xff\n")
    assert_one_error(
        run("cost", "-c", "lstm", "-i", "5", "-H", "8", "--lengths", f"@{lengths}"),
        "len.txt:2: not valid UTF-8",
    )


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("d.json", "[" * 100_000 + "]" * 100_000),
        ("d.json", "[" * 500 + "]" * 500),  # parses, but deeper than any model
        ("d.yaml", "[" * 100_000 + "]" * 100_000),
        ("d.yaml", "- " * 50_000 + "1"),
        ("d.toml", "a = " + "[" * 100_000 + "]" * 100_000),
        ("d.jsonl", "[" * 100_000 + "]" * 100_000),
    ],
)
def test_deep_nesting_is_one_error_in_every_format(tmp_path: Path, name: str, content: str) -> None:
    result = run("summary", write(tmp_path, name, content))
    line = assert_one_error(result)
    assert "nest" in line or "invalid" in line


def test_a_recursive_yaml_alias_is_one_error(tmp_path: Path) -> None:
    assert_one_error(run("summary", write(tmp_path, "r.yaml", "&a [*a]\n")), "recursive alias")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("null: a\n", "r.yaml:1: key 'null' is not a string"),
        ("2020-01-01: a\n", "key '2020-01-01' is not a string"),
        ("layers:\n  - {cell: lstm, hidden_size: 8, 1: 1}\n", "r.yaml:2: layers[0]: key '1' is not a string"),
        ("? [a]\n: 1\n", "is not a string"),
        ("yes: 1\n", "key 'yes' is not a string"),
    ],
)
def test_yaml_keys_that_are_not_strings_are_one_error(tmp_path: Path, content: str, expected: str) -> None:
    assert_one_error(run("summary", write(tmp_path, "r.yaml", content)), expected)


def test_a_layer_key_that_is_not_a_string_from_a_library_caller_is_a_spec_error() -> None:
    from rnncalc.core.errors import SpecError
    from rnncalc.core.model import build_model

    layer: dict[Any, Any] = {"cell": "lstm", "hidden_size": 8, 1: 1}
    with pytest.raises(SpecError, match=r"layers\[0\]\.1"):
        build_model([layer])


@pytest.mark.parametrize("value", ["1.5", "[1]", "{a: 1}", "true", "1,5M"])
def test_a_wrong_type_in_expect_is_an_error_naming_the_key(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, "e.yaml", f"cell: lstm\nhidden_size: 8\nexpect:\n  max_params: {value}\n")
    result = run("check", "--against", "none", path)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert "e.yaml:4: expect.max_params:" in result.stdout


def test_a_wrong_type_in_one_jsonl_line_leaves_every_other_line_checked(tmp_path: Path) -> None:
    rows = [{"cell": "lstm", "hidden_size": 8} for _ in range(400)]
    rows[281] = {"cell": "lstm", "hidden_size": 8, "expect": {"max_params": 1.5}}
    path = write(tmp_path, "s.jsonl", "\n".join(json.dumps(row) for row in rows) + "\n")
    result = run("check", "--against", "none", path)
    lines = checked_lines(result)
    assert result.exit_code == 2 and len(lines) == 400
    assert [n for n, line in enumerate(lines, 1) if line.startswith("error")] == [282]
    assert "s.jsonl:282: expect.max_params: must be a count" in lines[281]


@pytest.mark.parametrize(
    "args",
    [
        ("check", "-c", "lstm", "-i", "5", "-H", "8", "--against", "none", "--max-params", "²M"),
        ("check", "-c", "lstm", "-i", "5", "-H", "8", "--against", "none", "--max-memory", "١GB"),
        ("summary", "-c", "lstm", "-i", "5", "-H", "٣"),
        ("summary", "-c", "lstm", "-i", "5", "-H", "8", "-t", "²"),
        ("check", "-c", "lstm", "-i", "5", "-H", "8,٣", "--against", "none"),
        ("sweep", "-c", "lstm", "-i", "5", "-H", "٣:9:x2"),
        ("cost", "-c", "lstm", "-i", "5", "-H", "8", "--lengths", "٣"),
    ],
)
def test_non_ascii_digits_are_refused_not_read(args: tuple[str, ...]) -> None:
    assert_one_error(run(*args))


KERAS_LSTM = {"class_name": "LSTM", "config": {"units": 4}}


def _keras(*layers: object) -> str:
    return json.dumps({"class_name": "Sequential", "config": {"layers": list(layers)}})


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (_keras({"class_name": "LSTM", "config": [1]}), "config.layers[0].config: must be a mapping"),
        (_keras({"class_name": "LSTM", "config": "x"}), "config.layers[0].config: must be a mapping"),
        (
            _keras({"class_name": "Bidirectional", "config": {"layer": "x"}}),
            "config.layer: must be a mapping",
        ),
        (
            _keras({"class_name": "Bidirectional", "config": {"layer": {"class_name": "LSTM", "config": 3}}}),
            "must be a mapping",
        ),
        (_keras({"class_name": ["LSTM"], "config": {}}), "unsupported layer"),
        (
            _keras({"class_name": "SimpleRNN", "config": {"units": 4, "activation": {"config": 1}}}),
            "activation",
        ),
        (
            _keras({"class_name": "LSTM", "config": {"units": 4, "return_sequences": "yes"}}),
            "return_sequences",
        ),
        (_keras({"class_name": "LSTM", "build_config": [1], "config": {"units": 4}}), "build_config"),
        (
            json.dumps(
                {
                    "class_name": "Functional",
                    "config": {"layers": [{"class_name": "InputLayer", "config": {}, "inbound_nodes": "x"}]},
                }
            ),
            "inbound_nodes: must be a list",
        ),
    ],
)
def test_malformed_keras_json_is_one_error_naming_the_path(
    tmp_path: Path, document: str, expected: str
) -> None:
    assert_one_error(run("summary", write(tmp_path, "k.json", document)), expected)


def _keras_rnn(cell: object, **options: object) -> str:
    """A Sequential of an InputLayer and ``keras.layers.RNN(cell)`` as Keras writes it."""
    return _keras(
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 3, 5]}},
        {"class_name": "RNN", "config": {"cell": cell, **options}},
    )


def _lstm_cell(**config: object) -> dict[str, object]:
    return {"class_name": "LSTMCell", "config": {"units": 4, **config}}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (_keras_rnn("LSTMCell"), "config.layers[1].config.cell: must be a mapping"),
        (
            _keras_rnn({"class_name": "LSTMCell", "config": [4]}),
            "config.layers[1].config.cell.config: must be a mapping",
        ),
        (_keras_rnn({"class_name": ["LSTMCell"]}), "RNN of ['LSTMCell']"),
        (_keras_rnn(_lstm_cell(use_bias="false")), "bias: must be true or false"),
        (_keras_rnn(_lstm_cell(unit_forget_bias="false")), "unit_forget_bias must be true or false"),
        (_keras_rnn(_lstm_cell(), return_sequences="yes"), "return_sequences: must be true or false"),
        (_keras_rnn(_lstm_cell(), go_backwards="no"), "go_backwards must be true or false"),
        (
            _keras_rnn({"class_name": "StackedRNNCells", "config": {"cells": [_lstm_cell(), 7]}}),
            "config.cell.config.cells[1]: must be a mapping",
        ),
        (
            _keras_rnn({"class_name": "StackedRNNCells", "config": "x"}),
            "config.layers[1].config.cell.config: must be a mapping",
        ),
        (
            _keras_rnn(
                {"class_name": "StackedRNNCells", "config": {"cells": [_lstm_cell()]}}, go_backwards="no"
            ),
            "config.layers[1].config.go_backwards: must be true or false",
        ),
        (
            _keras(
                {"class_name": "InputLayer", "config": {"batch_shape": [None, 3, 5]}},
                {
                    "class_name": "Bidirectional",
                    "config": {"layer": {"class_name": "RNN", "config": {"cell": 1}}},
                },
            ),
            "config.layers[1].config.layer.config.cell: must be a mapping",
        ),
        (
            _keras(
                {"class_name": "InputLayer", "config": {"batch_shape": [None, 3, 5]}},
                KERAS_LSTM,
                {
                    "class_name": "TimeDistributed",
                    "config": {"layer": {"class_name": "Dense", "config": "x"}},
                },
            ),
            "config.layers[2].config.layer.config: must be a mapping",
        ),
        (
            _keras(
                {"class_name": "InputLayer", "config": {"batch_shape": [None, 3, 5]}},
                KERAS_LSTM,
                {"class_name": "TimeDistributed", "config": {"layer": {"class_name": "Conv\x1b[2J"}}},
            ),
            "wraps 'Conv\\x1b[2J'",
        ),
    ],
)
def test_malformed_keras_rnn_cells_are_one_error_naming_the_path(
    tmp_path: Path, document: str, expected: str
) -> None:
    assert_one_error(run("summary", write(tmp_path, "k.json", document)), expected)


def test_a_file_sweep_is_bounded_in_models_times_cells_times_sizes(tmp_path: Path) -> None:
    models = "models:\n" + "".join(
        f"  - {{cell: lstm, input_size: 5, hidden_size: {n}}}\n" for n in range(1, 4)
    )
    path = write(tmp_path, "m.yaml", models)
    result = run("sweep", path, "-c", "lstm,gru", "-H", "1:200:+1")
    assert_one_error(result, "models x --cell x --hidden make 1,200 rows; at most 1,000")


@pytest.mark.parametrize(
    "args",
    [
        ("cost", "-c", "lstm", "-i", "5", "-H", "1" + "0" * 200),
        ("summary", "-c", "lstm", "-i", "1" + "0" * 5000, "-H", "8"),
        ("summary", "-c", "lstm", "-i", "5", "-H", "2147483648"),
        ("summary", "-c", "lstm", "-i", "2147483647", "-H", "2147483647"),
        ("check", "-c", "lstm", "-i", "5", "-H", "2147483648", "--against", "torch"),
        ("check", "-c", "lstm", "-i", "5", "-H", "8", "--max-params", "1" * 100, "--against", "none"),
        ("sweep", "-c", "lstm", "-i", "5", "-H", "1" * 60),
    ],
)
def test_huge_numbers_are_one_error(args: tuple[str, ...]) -> None:
    assert_one_error(run(*args))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("h.yaml", "cell: lstm\nhidden_size: " + "1" * 5000 + "\n"),
        ("h.json", '{"cell": "lstm", "hidden_size": ' + "1" * 5000 + "}"),
        ("h.toml", 'cell = "lstm"\nhidden_size = ' + "1" * 5000 + "\n"),
        ("h.yaml", "cell: lstm\nhidden_size: 100000000000000000000\n"),
    ],
)
def test_integers_of_thousands_of_digits_in_files_are_one_error(
    tmp_path: Path, name: str, content: str
) -> None:
    assert_one_error(run("summary", write(tmp_path, name, content)))


def test_a_huge_size_counts_no_parameters_it_names_the_limit() -> None:
    line = assert_one_error(run("summary", "-c", "gru", "-i", "1000000000", "-H", "1000000000"))
    assert "more elements than PyTorch or TensorFlow can allocate" in line


@pytest.mark.parametrize(
    "args",
    [
        ("--seed", "-1"),
        ("--seed", str(2**32)),
        ("--atol", "nan"),
        ("--atol", "inf"),
        ("--atol", "-1"),
        ("-H", "100000"),  # 160 GB in PyTorch: refused by --max-memory before anything is built
    ],
)
def test_verify_refuses_seeds_tolerances_and_sizes_it_cannot_honour(args: tuple[str, ...]) -> None:
    base = {"-c": "lstm", "-i": "5", "-H": "8", "-a": "torch"}
    given = dict(zip(args[::2], args[1::2], strict=True))
    merged = [item for pair in {**base, **given}.items() for item in pair]
    assert_one_error(run("verify", *merged))


def test_verify_of_one_step_of_a_cell_is_bounded_by_max_memory_too() -> None:
    result = run("verify", "-c", "lstm", "--step", "-i", "5", "-H", "100000", "-a", "torch")
    assert_one_error(result, "--max-memory: verifying needs about")


def test_a_device_behind_a_symlink_is_refused_not_read(tmp_path: Path) -> None:
    link = tmp_path / "z.yaml"
    link.symlink_to("/dev/zero")
    assert_one_error(run("summary", str(link)), "z.yaml: is not a regular file")


def test_a_lengths_file_is_read_only_when_regular_and_small(tmp_path: Path) -> None:
    base = ("cost", "-c", "lstm", "-i", "5", "-H", "8", "--lengths")
    assert_one_error(run(*base, "@/dev/zero"), "--lengths: /dev/zero: is not a regular file")
    big = write(tmp_path, "big.txt", "7\n" * (3 * 2**20))
    assert_one_error(run(*base, f"@{big}"), "limit")


def test_a_directory_named_like_a_config_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "dir.jsonl").mkdir()
    assert_one_error(run("summary", str(tmp_path / "dir.jsonl")))


def test_a_file_over_the_size_limit_is_refused_and_the_option_raises_it(tmp_path: Path) -> None:
    path = write(tmp_path, "big.yaml", OK_YAML + "#" * 2000 + "\n")
    assert_one_error(run("summary", "--max-file-size", "1kB", path), "raise it with --max-file-size")
    assert run("summary", "--max-file-size", "4kB", path).exit_code == 0


def test_a_jsonl_line_over_the_size_limit_is_one_bad_record(tmp_path: Path) -> None:
    rows = [
        json.dumps({"cell": "lstm", "hidden_size": 8, "name": "x" * 3000}),
        '{"cell": "gru", "hidden_size": 4}',
    ]
    path = write(tmp_path, "l.jsonl", "\n".join(rows) + "\n")
    lines = checked_lines(run("check", "--against", "none", "--max-file-size", "1kB", path))
    assert lines[0].startswith("error") and "l.jsonl:1:" in lines[0]
    assert lines[1].startswith("ok")


def test_a_huge_range_is_refused_before_it_is_built() -> None:
    assert_one_error(
        run("sweep", "-c", "lstm", "-i", "5", "-H", "1:100000000000:+1"), "more than 1,000 values"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("-c", "lstm", "-H", "1:100000:+1"), "more than 1,000 values"),
        (("-c", "lstm,gru", "-H", "1:600:+1"), "make 1,200 rows; at most 1,000"),
        (("-c", "lstm", "-H", "1:200:+1", "--lengths", ",".join(["7"] * 60_000)), "is more than 10,000,000"),
    ],
)
def test_a_sweep_is_bounded_in_rows_and_in_rows_times_lengths(args: tuple[str, ...], expected: str) -> None:
    assert_one_error(run("sweep", "-i", "5", *args), expected)


@pytest.mark.parametrize("budget", ["--max-params", "--max-flops", "--max-memory"])
def test_solve_with_a_budget_beyond_every_size_says_so(budget: str) -> None:
    result = run("solve", "-c", "lstm", "-i", "5", budget, "9" * 40)
    assert_one_error(result, "the budgets allow a hidden size beyond what rnncalc accepts")


@pytest.mark.parametrize(
    "args",
    [
        ("summary", "-c", "lstm", "-i", "5", "-H", "8", "-l", "1000000"),
        ("check", "-c", "lstm", "-i", "5", "-H", "8", "-l", "1000000", "--against", "none"),
        ("cost", "-c", "lstm", "-i", "5", "-H", "8", "-l", "1000000"),
        ("explain", "-c", "lstm", "-i", "5", "-H", "8", "-l", "1000000"),
        ("code", "-c", "lstm", "-i", "5", "-H", "8", "-l", "1000000"),
        ("verify", "-c", "lstm", "-i", "5", "-H", "8", "-l", "1000000"),
        ("solve", "-c", "lstm", "-i", "5", "-l", "1000000", "--max-params", "1M"),
        ("sweep", "-c", "lstm", "-i", "5", "-H", "8", "-l", "1000000"),
    ],
)
def test_every_command_refuses_a_million_layers(args: tuple[str, ...]) -> None:
    assert_one_error(run(*args), "at most 1,024")


def test_a_model_file_stacking_too_many_layers_is_one_error(tmp_path: Path) -> None:
    layers = "".join("  - {cell: lstm, hidden_size: 8, num_layers: 600}\n" for _ in range(2))
    path = write(tmp_path, "m.yaml", f"layers:\n{layers}")
    assert_one_error(run("summary", path), "at most 1,024")


def test_too_many_combinations_are_refused_before_one_is_built() -> None:
    many = ",".join(str(n) for n in range(1, 301))
    line = assert_one_error(
        run("check", "-c", "gru", "-H", many, "-l", "1,2", "-i", many, "--against", "none")
    )
    assert "180,000 combinations" in line


# --- Silently wrong becomes an error --------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("check", "-c", "lstm", "-i", "5", "-H", "8", "--against", "none", "--max-params", "1,5M"),
        ("check", "-c", "lstm", "-i", "5", "-H", "8", "--against", "none", "--max-memory", "1,5GB"),
        ("solve", "-c", "lstm", "-i", "5", "--max-params", "1,5M"),
        ("solve", "-c", "lstm", "-i", "5", "--max-params", "10,00"),
    ],
)
def test_a_comma_is_a_thousands_separator_only(args: tuple[str, ...]) -> None:
    assert_one_error(run(*args))


def test_thousands_separators_still_read_as_thousands() -> None:
    from rnncalc.core.units import parse_bytes, parse_count

    assert parse_count("n", "1,500,000") == 1_500_000
    assert parse_count("n", "1,500.5k") == 1_500_500
    assert parse_bytes("n", "2,048MiB") == 2048 * 2**20


def test_keras_use_bias_given_as_a_string_is_an_error_not_a_bias(tmp_path: Path) -> None:
    document = _keras(
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 3, 5]}},
        {"class_name": "LSTM", "config": {"units": 4, "use_bias": "false"}},
    )
    assert_one_error(run("summary", write(tmp_path, "k.json", document)), "bias: must be true or false")


def test_a_duplicate_key_in_a_jsonl_line_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "d.jsonl", '{"cell": "lstm", "hidden_size": 8, "hidden_size": 9}\n')
    result = run("check", "--against", "none", path)
    assert result.exit_code == 2
    assert "d.jsonl:1: hidden_size: duplicate key" in result.stdout


@pytest.mark.parametrize("value", ["1:30", "010", "0o10", "0x10", "0b10", "1_0:0"])
def test_yaml_1_1_numbers_are_not_misread(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, "n.yaml", f"cell: lstm\nhidden_size: {value}\n")
    assert_one_error(run("summary", path), "hidden_size: must be an integer")


def test_yaml_merge_keys_still_merge(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "m.yaml",
        "models:\n  - &m {cell: lstm, hidden_size: 8, input_size: 5}\n  - <<: *m\n    hidden_size: 16\n",
    )
    lines = checked_lines(run("check", "--against", "none", path))
    assert [line.split()[0] for line in lines] == ["ok", "ok"]
    assert "torch 1,472" in lines[1]  # 4*16*(5+16) + 2*4*16: hidden 16 from the merging mapping


def test_yaml_decimal_numbers_still_read(tmp_path: Path) -> None:
    path = write(tmp_path, "n.yaml", "cell: lstm\nhidden_size: 1_0\ninput_size: +5\n")
    assert run("summary", path, "-f", "json").exit_code == 0


# --- Lines and streams -----------------------------------------------------------------------


def test_jsonl_splits_on_newlines_only_so_line_numbers_stay_right(tmp_path: Path) -> None:
    rows = [
        json.dumps({"cell": "lstm", "hidden_size": 8, "name": "a\u2028b\x85c\x0cd"}, ensure_ascii=False),
        json.dumps({"cell": "lstm", "hidden_size": "x"}),
    ]
    path = write(tmp_path, "s.jsonl", "\n".join(rows) + "\n")
    lines = checked_lines(run("check", "--against", "none", path))
    assert len(lines) == 2
    assert lines[0].startswith("ok") and "a\\u2028b\\x85c\\x0cd" in lines[0]
    assert lines[1].startswith("error") and "s.jsonl:2:" in lines[1]


def test_a_bad_first_line_on_stdin_is_one_bad_record_and_the_rest_run() -> None:
    stream = 'not json\n{"cell": "lstm", "hidden_size": 8}\n{"cell": "gru", "hidden_size": 4}\n'
    result = run("check", "--against", "none", "-", input=stream)
    lines = checked_lines(result)
    assert result.exit_code == 2
    assert lines[0].startswith("error") and "<stdin>:1:" in lines[0]
    assert [line.split()[0] for line in lines[1:]] == ["ok", "ok"]


def test_a_json_document_on_stdin_is_still_a_document() -> None:
    document = json.dumps([{"cell": "lstm", "hidden_size": 8}, {"cell": "gru", "hidden_size": 4}], indent=1)
    result = run("check", "--against", "none", "-", input=document)
    assert result.exit_code == 0 and len(checked_lines(result)) == 2


def test_toml_lines_ignore_key_text_inside_string_values(tmp_path: Path) -> None:
    path = write(tmp_path, "t.toml", 'name = "foo = 1"\ncell = "lstm"\nhidden_size = 8\nfoo = 1\n')
    assert_one_error(run("summary", path), "t.toml:4: foo: unknown key")
    multi = 'name = """\nfoo = 1\n"""\ncell = "lstm" # foo = 1\nhidden_size = 8\nfoo = 1\n'
    assert_one_error(run("summary", write(tmp_path, "m.toml", multi)), "m.toml:6: foo: unknown key")


def test_an_empty_jsonl_file_is_an_error_as_other_empty_files_are(tmp_path: Path) -> None:
    for name in ("e.jsonl", "e.yaml", "e.json"):
        result = run("check", "--against", "none", write(tmp_path, name, "\n\n"))
        assert result.exit_code == 2, name
    assert_one_error(run("summary", write(tmp_path, "e2.jsonl", "")), "is empty")


def test_names_cannot_forge_lines_or_reach_the_terminal(tmp_path: Path) -> None:
    path = write(tmp_path, "n.yaml", 'name: "x\\nok           forged\\e[31m"\ncell: lstm\nhidden_size: 8\n')
    for fmt in ("lines", "table", "github"):
        result = run("check", "--against", "none", "-f", fmt, path)
        assert "\x1b" not in result.stdout
        assert not any(line.startswith("ok           forged") for line in result.stdout.splitlines())
    summary = run("summary", path)
    assert "\x1b" not in summary.stdout


def test_a_newline_in_an_unknown_key_stays_on_the_error_line(tmp_path: Path) -> None:
    path = write(tmp_path, "k.yaml", '"foo\\nbar\\e": 1\ncell: lstm\nhidden_size: 8\n')
    assert_one_error(run("summary", path), "foo\\nbar\\x1b: unknown key")


def test_undecodable_bytes_on_stdin_are_an_error_not_echoed() -> None:
    for command in ("summary", "check"):
        result = run(command, "-", input=b"cell: lstm\nhidden_size: \xff\x1b[2J\n")
        assert result.exit_code == 2, command
        assert "\x1b" not in result.stdout + result.stderr
        assert "<stdin>:2: not valid UTF-8" in result.stdout + result.stderr


@pytest.mark.skipif(not HAS_TORCH, reason="needs torch")
def test_a_million_steps_are_checked_with_a_short_forward_pass_that_says_so() -> None:
    result = run(
        "check", "-c", "lstm", "-i", "5", "-H", "8", "-t", "1000000", "--against", "torch", "-f", "json"
    )
    assert result.exit_code == 0, result.stderr
    crosscheck = json.loads(result.stdout)["models"][0]["frameworks"]["torch"]["crosscheck"]
    assert crosscheck["status"] == "ok"
    assert "forward pass run at batch 2, 8 steps" in crosscheck["reason"]
