"""Regenerate the example blocks of docs/check.md: ``python docs/check_examples.py``.

Runs every command for real (torch and Keras installed) and prints markdown with the
command, its stdout, its stderr and its exit status.
"""

from __future__ import annotations

import shlex
import subprocess
import sys

EXAMPLES: list[tuple[str, str]] = [
    ("Both frameworks agree (default: every installed framework)", "rnncalc check --cell rnn -i 5 -H 8 --bi"),
    (
        "The issue's example",
        "rnncalc check --cell lstm -i 300 -H 512 -l 2 --bi --against torch,keras",
    ),
    ("JSON for pipelines", "rnncalc check --cell gru -i 10 -H 3 --against keras --format json"),
    (
        "A budget: exit 1 names the numbers",
        "rnncalc check -c rnn -i 5 -H 8 --bi --max-params 230 --against none",
    ),
    (
        "Several sizes in one run (each framework imported once)",
        "rnncalc check -c gru -i 32 -H 64,128 -l 1,2 --max-params 100k --against none",
    ),
    ("A spec one framework cannot express", "rnncalc check -c lstm -i 4 -H 6 --proj-size 3 --against all"),
    ("Far larger than memory", "rnncalc check -c lstm -i 100000 -H 100000 -l 4 --bi"),
    ("Bad input", "rnncalc check -c gru -H 3 --against torch"),
]

HIDDEN_KERAS = (
    "import sys; sys.modules['keras'] = None; from rnncalc.cli import main; "
    "sys.argv = ['rnncalc'] + sys.argv[1:]; main()"
)


def run(title: str, command: str, argv: list[str] | None = None) -> str:
    proc = subprocess.run(argv or shlex.split(command), capture_output=True, text=True)
    parts = [f"### {title}", "", "```console", f"$ {command}"]
    if proc.stdout:
        parts += [proc.stdout.rstrip("\n")]
    if proc.stderr:
        parts += [proc.stderr.rstrip("\n")]
    parts += ["$ echo $?", str(proc.returncode), "```", ""]
    return "\n".join(parts)


def main() -> None:
    blocks = [run(title, command) for title, command in EXAMPLES]
    args = ["-c", "gru", "-i", "4", "-H", "3", "--against", "keras", "--require"]
    blocks.append(
        run(
            "A framework that is not installed (here keras hidden from Python), with --require",
            "rnncalc " + " ".join(["check", *args]),
            [sys.executable, "-c", HIDDEN_KERAS, "check", *args],
        )
    )
    print("\n".join(blocks))


if __name__ == "__main__":
    main()
