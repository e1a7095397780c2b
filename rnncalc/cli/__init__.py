"""The ``rnncalc`` command group. Commands live in sibling modules and import heavy
packages only inside their bodies."""

from __future__ import annotations

import sys
from typing import Any

import click

from rnncalc import __version__
from rnncalc.errors import RnncalcError


class RnncalcGroup(click.Group):
    """Reports every user error as one line on stderr with exit status 2, never a traceback."""

    def main(  # type: ignore[override]
        self, args: Any = None, prog_name: str | None = None, standalone_mode: bool = True, **extra: Any
    ) -> Any:
        try:
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.ClickException as error:
            click.echo(f"rnncalc: error: {error.format_message()}", err=True)
            code = 2
        except RnncalcError as error:
            click.echo(f"rnncalc: error: {error}", err=True)
            code = 2
        except click.Abort:
            click.echo("rnncalc: aborted", err=True)
            code = 1
        if not isinstance(code, int):
            code = 0
        if standalone_mode:
            sys.exit(code)
        return code


@click.group(
    cls=RnncalcGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, "--version", "-V", prog_name="rnncalc")
def cli() -> None:
    """Parameters, weight shapes and output shapes of RNN, LSTM and GRU layers, in PyTorch's
    and Keras's conventions side by side, and why their numbers differ."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="rnncalc")


def _register() -> None:
    from rnncalc.cli.check import check
    from rnncalc.cli.summary import summary

    cli.add_command(summary)
    cli.add_command(check)


_register()
