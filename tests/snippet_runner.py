"""Runs generated snippets as they stand, for the snippet tests of every framework.

All sources run in ONE fresh interpreter (this venv's python), each exec'd in its own namespace,
so a framework starts once per test module instead of once per snippet.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from typing import Any

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
