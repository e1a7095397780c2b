"""The click command class of every rnncalc command, and the group's ``--version`` option.

Click builds ``--help`` and ``--version`` with help texts passed through :mod:`gettext`, and
the first lookup imports :mod:`locale` and searches the disk for message catalogs: 0.6 ms of
every start, on a path whose whole budget is a few milliseconds. rnncalc is not translated,
so these options are built the same way with their English texts given directly.
"""

from __future__ import annotations

import click

from rnncalc.core.version import __version__

HELP_TEXT = "Show this message and exit."
VERSION_TEXT = "Show the version and exit."


def _show_help(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(ctx.get_help(), color=ctx.color)
        ctx.exit()


def _show_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"rnncalc, version {__version__}", color=ctx.color)
        ctx.exit()


class RnncalcCommand(click.Command):
    """A click command whose ``-h/--help`` option skips click's gettext lookup."""

    _plain_help_option: click.Option | None = None

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        # Built once and kept, as click does: parameter processing order relies on identity.
        names = self.get_help_option_names(ctx)
        if not names or not self.add_help_option:
            return None
        if self._plain_help_option is None:
            self._plain_help_option = click.Option(
                [*names, "_rnncalc_help"],  # a storage name no command parameter can clash with
                is_flag=True,
                expose_value=False,
                is_eager=True,
                callback=_show_help,
                help=HELP_TEXT,
            )
        return self._plain_help_option


#: ``-V/--version`` for the group, as ``click.version_option`` prints it.
version_option = click.option(
    "--version",
    "-V",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help=VERSION_TEXT,
)
