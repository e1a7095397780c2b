"""Notebooks: ``rnncalc.show`` displays tables and the diagram, ``%rnncalc`` runs a command, and
the course notebook runs top to bottom in a real kernel with the course's numbers."""

from __future__ import annotations

import html
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import rnncalc

COURSE = Path(__file__).parent.parent / "examples" / "course.ipynb"


def test_show_html_holds_each_frameworks_tables_and_the_embedded_svg() -> None:
    page = rnncalc.show(cell="rnn", input_size=5, hidden_size=8, bidirectional=True)._repr_html_()
    assert page.count("<table") == 2 * 2  # weights and returns, for each framework
    assert page.count("<svg") == 1 and "</svg>" in page
    assert "weight_ih_l0_reverse" in page and "recurrent_kernel" in page
    assert ">240<" in page and ">224<" in page  # PyTorch's and Keras's totals (course: 224)


def test_show_markdown_holds_the_summary_and_a_mermaid_block(run_cli: Callable[..., Any]) -> None:
    text = rnncalc.show({"cell": "lstm", "hidden_size": 8}, input_size=5)._repr_markdown_()
    summary = run_cli("summary", "-c", "lstm", "-H", "8", "-i", "5", "-f", "markdown").stdout
    assert text.startswith(summary.rstrip("\n"))
    assert "\n```mermaid\n%% lstm, input 5, hidden 8, 1 layer\nflowchart TB\n" in text


def test_show_takes_a_config_file_and_analyze_still_returns_plain_json() -> None:
    shown = rnncalc.show(str(COURSE.parent / "sentiment.yaml"))
    assert shown.document["frameworks"]["keras"]["total_params"] == 2667137  # measured in the file
    document = rnncalc.analyze({"cell": "rnn", "hidden_size": 3, "input_size": 10})
    assert json.loads(json.dumps(document)) == document


def test_show_with_unroll_embeds_the_unrolled_view() -> None:
    page = rnncalc.show(cell="lstm", input_size=5, hidden_size=8, unroll=2)._repr_html_()
    assert "c_1 (None, 8)" in page and "unrolled over 2 steps" in page


def test_load_ext_registers_a_line_magic_that_renders_what_the_cli_prints(
    run_cli: Callable[..., Any],
) -> None:
    shell_module = pytest.importorskip("IPython.core.interactiveshell")
    shell = shell_module.InteractiveShell.instance()
    shell.run_line_magic("load_ext", "rnncalc")
    shown = shell.run_line_magic("rnncalc", "summary --cell rnn -H 8 --bi")
    printed = run_cli("summary", "--cell", "rnn", "-H", "8", "--bi").stdout
    assert shown._repr_html_() == f'<pre class="rnncalc">{html.escape(printed)}</pre>'
    error = shell.run_line_magic("rnncalc", "summary --cell rnn")
    assert error.exit_code == 2 and "--hidden is required" in error._repr_html_()
    svg = shell.run_line_magic("rnncalc", "diagram --cell rnn -H 8")
    assert svg._repr_html_().startswith("<svg")


def test_importing_rnncalc_imports_no_ipython() -> None:
    code = (
        "import sys, rnncalc\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'IPython', 'nbformat'}))"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        == "[]\n"
    )


def _outputs(cell: Any) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.extend(str(value) for value in output.get("data", {}).values())
    return "\n".join(parts)


def test_course_notebook_runs_in_a_real_kernel_and_answers_the_course() -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.read(COURSE, as_version=4)
    nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(COURSE.parent)}}
    ).execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    text = "\n".join(_outputs(cell) for cell in code)
    for line in (
        "SimpleRNN(3): 42 params, output (None, 3)",
        "layers: [112, 136] total: 248",
        "first: 224 output (None, 10, 16)",
        "further: [400, 400, 400] four stacked: 1,424",
        "one direction {'output': (3, 10, 8), 'h_n': (1, 3, 8)}",
        "bidirectional {'output': (3, 10, 16), 'h_n': (2, 3, 8)}",
    ):
        assert line in text
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
    html_outputs = [
        o["data"]["text/html"] for cell in code for o in cell.outputs if "text/html" in o.get("data", {})
    ]
    assert sum("<svg" in page and "<table" in page for page in html_outputs) == 2  # the two show() cells
    verify = next(page for page in html_outputs if "verify:" in page)
    assert verify.count(" ok") >= 2 and "differs" not in verify  # output and h_n agree with PyTorch
