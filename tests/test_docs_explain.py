"""docs/explain.md shows real output: every block after an ``<!-- rnncalc: ARGS -->`` marker is
what ``rnncalc ARGS`` prints now, and after ``<!-- rnncalc | python: ARGS -->`` what that script
prints when run. ``pytest --update-golden`` rewrites the blocks."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from rnncalc.cli import cli

DOC = Path(__file__).parent.parent / "docs" / "explain.md"
#: A marker, then a fenced block; markdown output holds fences itself, so its block uses four.
BLOCK = re.compile(r"<!-- rnncalc( \| python)?: (.*?) -->\n(`{3,})(\w*)\n(.*?)^\3\n", re.S | re.M)


def current(args: str, run: bool) -> str:
    result = CliRunner().invoke(cli, shlex.split(args))
    assert result.exit_code == 0, result.output
    if not run:
        return result.output
    done = subprocess.run(
        [sys.executable, "-"], input=result.output, capture_output=True, text=True, check=True, timeout=300
    )
    return done.stdout


def test_docs_explain_blocks_are_the_commands_real_output(update_golden: bool) -> None:
    text = DOC.read_text()

    def refresh(match: re.Match[str]) -> str:
        run, args, fence, language, _ = match.groups()
        output = current(args, bool(run))
        return f"<!-- rnncalc{run or ''}: {args} -->\n{fence}{language}\n{output}{fence}\n"

    fresh = BLOCK.sub(refresh, text)
    assert len(BLOCK.findall(text)) >= 8
    if update_golden:
        DOC.write_text(fresh)
    assert fresh == DOC.read_text()
