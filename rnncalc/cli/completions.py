"""Generate the shell completion scripts in ``completions/`` from click's own support.

Run ``python -m rnncalc.cli.completions`` (``--check`` to only compare) after changing commands.
The scripts ask the installed ``rnncalc`` for candidates at run time, so choices added to the
CLI complete without regenerating; regenerate when click's script template changes.
"""

from __future__ import annotations

import sys
from pathlib import Path

SHELLS: dict[str, str] = {"bash": "rnncalc.bash", "zsh": "rnncalc.zsh", "fish": "rnncalc.fish"}
PROG_NAME = "rnncalc"
COMPLETE_VAR = "_RNNCALC_COMPLETE"


def script(shell: str) -> str:
    """The script click generates for ``shell``.

    The same text as ``_RNNCALC_COMPLETE=<shell>_source rnncalc`` prints.
    """
    from click.shell_completion import get_completion_class

    from rnncalc.cli import cli

    completion_class = get_completion_class(shell)
    if completion_class is None:
        raise ValueError(f"click has no completion for {shell}")
    return completion_class(cli, {}, PROG_NAME, COMPLETE_VAR).source()


def default_directory() -> Path:
    return Path(__file__).resolve().parents[2] / "completions"


def stale(directory: Path) -> list[str]:
    """Files in ``directory`` that differ from what click generates now."""
    out = []
    for shell, name in SHELLS.items():
        path = directory / name
        if not path.exists() or path.read_text() != script(shell):
            out.append(str(path))
    return out


def write(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for shell, name in SHELLS.items():
        (directory / name).write_text(script(shell))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    rest = [arg for arg in args if arg != "--check"]
    directory = Path(rest[0]) if rest else default_directory()
    if check:
        files = stale(directory)
        for path in files:
            print(f"stale: {path}; run python -m rnncalc.cli.completions", file=sys.stderr)
        return 1 if files else 0
    write(directory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
