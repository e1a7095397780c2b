"""The analytic path never imports a framework (nor numpy): it must start as fast as click."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "tensorflow", "keras", "numpy")
PROBE = """
import sys
from rnncalc.cli import cli
cli.main({args!r}, prog_name="rnncalc", standalone_mode=False)
print("\\nMODULES=" + ",".join(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})))
"""


def loaded_heavy_modules(*args: str) -> list[str]:
    code = PROBE.format(args=list(args), heavy=set((*HEAVY, "tabulate")))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    line = proc.stdout.rsplit("MODULES=", 1)[1].strip()
    return [name for name in line.split(",") if name]


@pytest.mark.parametrize("fmt", ["table", "markdown", "json"])
def test_summary_imports_no_framework_and_no_numpy(fmt: str) -> None:
    loaded = loaded_heavy_modules("summary", "--cell", "lstm", "--hidden", "8", "--bi", "-i", "5", "-f", fmt)
    assert not [name for name in loaded if name.split(".")[0] in HEAVY]


def test_json_summary_does_not_even_import_tabulate() -> None:
    assert loaded_heavy_modules("summary", "-c", "rnn", "-H", "8", "-f", "json") == []


def test_library_analyze_imports_no_framework() -> None:
    code = (
        "import sys, json, rnncalc\n"
        "rnncalc.analyze({'cell': 'gru', 'hidden_size': 4})\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout) == []


def test_summary_of_a_whole_model_with_norms_and_dropout_imports_no_framework() -> None:
    from pathlib import Path

    tagger = Path(__file__).resolve().parent.parent / "examples" / "tagger.yaml"
    every = ("--frameworks", "torch,keras,flax,onnx")
    assert loaded_heavy_modules("summary", str(tagger), *every, "-f", "json") == []
