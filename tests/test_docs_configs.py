"""docs/configs.md shows real output: its check lines for the examples are what check prints."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from rnncalc.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = (ROOT / "docs" / "configs.md").read_text()
#: The example config files (course.ipynb, a notebook, is run by tests/test_notebook.py).
CONFIGS = sorted(path for path in (ROOT / "examples").iterdir() if path.suffix != ".ipynb")


def test_docs_check_lines_for_the_examples_are_real_output() -> None:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        paths = [f"examples/{path.name}" for path in CONFIGS]
        result = CliRunner().invoke(cli, ["check", *paths, "--against", "none"])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(CONFIGS)
    for line in lines:
        # The docs ran the same files copied into models/.
        assert line.replace("examples/", "models/") in DOCS


def test_docs_table_of_examples_shows_the_numbers_the_example_files_expect() -> None:
    from rnncalc.io.config import ModelEntry, read_source

    for path in CONFIGS:
        (entry,) = read_source(str(path))
        assert isinstance(entry, ModelEntry)
        expect = entry.expectations()
        torch = expect.for_framework("torch").params
        keras = expect.for_framework("keras").params
        assert torch is not None and keras is not None
        row = next(line for line in DOCS.splitlines() if line.startswith(f"| `{path.name}` |"))
        assert row.endswith(f"| {torch:,} | {keras:,} |")
