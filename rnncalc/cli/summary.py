"""``rnncalc summary``: the analytic answer for one spec, no framework imported."""

from __future__ import annotations

from typing import Any

import click

from rnncalc.cli.options import emit, format_option, spec_from_flags, spec_options
from rnncalc.render import Format, render_analysis


@click.command()
@spec_options
@format_option(Format)
def summary(fmt: str, **flags: Any) -> None:
    """Parameters, weights and output shapes of a recurrent stack in PyTorch and Keras.

    \b
    Examples:
      rnncalc summary --cell rnn --hidden 8 --bi --input 5
      rnncalc summary -c lstm -i 300 -H 512 -l 2 --batch 32 --seq-len 100 -f json
    """
    from rnncalc.calc import analyze

    spec = spec_from_flags(flags)
    emit(render_analysis(analyze(spec), Format(fmt)))
