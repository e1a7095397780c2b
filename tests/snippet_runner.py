"""Runs generated snippets as they stand and checks what they print, for every snippet test.

All sources run in ONE fresh interpreter (this venv's python), each exec'd in its own namespace,
so a framework starts once per test module instead of once per snippet.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from typing import Any

from rnncalc.analysis import analyze
from rnncalc.core.spec import Spec, spec_from_mapping
from rnncalc.explain.code import snippet
from rnncalc.frameworks.adapter import probe_spec

#: Execs each source from stdin, capturing its stdout and any traceback, then prints all results
#: as one JSON line (a snippet's own prints go to its buffer, never to this line).
RUNNER = r"""
import contextlib, io, json, sys, traceback
results = []
for source in json.load(sys.stdin):
    buffer = io.StringIO()
    error = None
    try:
        with contextlib.redirect_stdout(buffer):
            exec(compile(source, "<snippet>", "exec"), {"__name__": "__main__"})
    except BaseException:
        error = traceback.format_exc()
    results.append({"stdout": buffer.getvalue(), "error": error})
print("RESULTS " + json.dumps(results))
"""


def run_snippets(sources: list[str]) -> list[dict[str, Any]]:
    """Each source's ``{"stdout": ..., "error": traceback or None}``, in the order given."""
    done = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(sources),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULTS "))
    results: list[dict[str, Any]] = json.loads(line.removeprefix("RESULTS "))
    return results


def parse_printed(stdout: str) -> tuple[list[tuple[str, tuple[int, ...]]], int]:
    """A snippet's ``name (shape)`` lines, then its last line: the parameter count."""
    lines = stdout.strip().splitlines()
    pairs = []
    for line in lines[:-1]:
        name, _, shape = line.partition(" ")
        pairs.append((name, ast.literal_eval(shape)))
    return pairs, int(lines[-1])


def run_torch_and_keras_snippets(
    configs: dict[str, dict[str, Any]],
) -> dict[tuple[str, str], dict[str, Any]]:
    """Each config's ``rnncalc code`` snippet for PyTorch and for Keras, run once per framework,
    keyed ``(framework, name)``."""
    names = list(configs)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for framework in ("torch", "keras"):
        results = run_snippets([snippet(spec_from_mapping(configs[name]), framework) for name in names])
        out.update({(framework, name): result for name, result in zip(names, results, strict=True)})
    return out


def assert_built_what_the_calculator_describes(result: dict[str, Any], spec: Spec, framework: str) -> None:
    """The snippet ran; if the framework can build ``spec`` it printed the calculator's weight names
    and shapes in order, then the output shapes, then the count; otherwise it printed nothing."""
    assert result["error"] is None, result["error"]
    report = analyze(spec).framework(framework)
    if not report.supported:
        assert result["stdout"] == ""
        return
    printed, count = parse_printed(result["stdout"])
    assert count == report.total.value
    weights = [(w.path, w.shape) for w in report.weights]
    assert printed[: len(weights)] == weights
    assert printed[len(weights) :] == list(analyze(probe_spec(spec)).framework(framework).outputs)
