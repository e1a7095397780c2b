"""Rewrite the output blocks of docs/cost.md in place: ``python docs/cost_examples.py``.

Every ```` ```\n$ rnncalc ...``` ```` block is followed by its output block; this runs each
command (analytic, no framework needed) and replaces the output with what it prints now.
tests/test_docs_cost.py fails when the two differ. ``--check`` exits 1 instead of writing.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

from click.testing import CliRunner

from rnncalc.cli import cli

DOC = Path(__file__).resolve().parent / "cost.md"
#: A command block, then its output block: lines up to the first fence (possibly none yet).
EXAMPLE = re.compile(r"(```\n\$ rnncalc ([^\n]*)\n```\n```\n)((?:(?!```).*\n)*)(```)")


def regenerated(text: str) -> str:
    def run(match: re.Match[str]) -> str:
        result = CliRunner().invoke(cli, shlex.split(match.group(2)))
        if result.exit_code != 0:
            raise SystemExit(f"rnncalc {match.group(2)}: exit {result.exit_code}\n{result.stderr}")
        return match.group(1) + result.stdout.rstrip("\n") + "\n" + match.group(4)

    return EXAMPLE.sub(run, text)


def main(argv: list[str]) -> int:
    os.chdir(DOC.parent.parent)  # examples name files such as examples/sentiment.yaml
    text = DOC.read_text(encoding="utf-8")
    new = regenerated(text)
    if "--check" in argv:
        return int(new != text)
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
