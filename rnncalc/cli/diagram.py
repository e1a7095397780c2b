"""``rnncalc diagram``: the stack or the unrolled picture of a model, as SVG or Mermaid."""

from __future__ import annotations

from typing import Any

import click

from rnncalc.cli.command import RnncalcCommand
from rnncalc.cli.options import (
    emit,
    files_argument,
    flag_for,
    format_option,
    frameworks_option,
    given_fields,
    spec_from_flags,
    spec_options_without,
)
from rnncalc.core.errors import SpecError
from rnncalc.diagram import DiagramFormat
from rnncalc.diagram.layout import MAX_STEPS


def subject_from(files: tuple[str, ...], flags: dict[str, Any]) -> Any:
    """The one spec or model to draw: from the flags alone, or from one config entry with the
    flags overriding its fields (as ``summary`` applies them)."""
    if not files:
        return spec_from_flags(flags)
    from rnncalc.core.model import override
    from rnncalc.io.config import BadEntry, read_sources

    entries = list(read_sources(list(files)))
    for entry in entries:
        if isinstance(entry, BadEntry):
            raise entry.error
    if len(entries) != 1:
        raise click.UsageError(f"FILE: a diagram draws one model; the files hold {len(entries)}")
    (entry,) = entries
    try:
        model = override(entry.model, given_fields(flags))  # type: ignore[union-attr]
    except SpecError as error:
        raise click.UsageError(f"{flag_for(error.field)}: {error.message}") from None
    return model.layers[0] if model.is_flat else model


@click.command(cls=RnncalcCommand)
@files_argument
# --unroll here is the picture's STEPS; Keras's unroll flag changes nothing a diagram shows.
@spec_options_without("unroll")
@click.option(
    "--unroll",
    type=click.IntRange(1, MAX_STEPS),
    metavar="STEPS",
    help="Draw the recurrent layers unrolled over STEPS time steps.",
)
@frameworks_option
@format_option(
    DiagramFormat,
    default="svg",
    help="svg: a self-contained image; mermaid: a flowchart that GitHub renders in Markdown.",
)
def diagram(
    files: tuple[str, ...], fmt: str, unroll: int | None, framework_names: tuple[str, ...], **flags: Any
) -> None:
    """Draw a recurrent stack for each framework: input, layers with their weight shapes and
    counts, merges and returned tensors, with the shape on every arrow.

    FILES and flags as for summary; the files must hold one model. --unroll draws each
    recurrent layer and direction over a few time steps instead, the cell state too for LSTM.

    \b
    Examples:
      rnncalc diagram --cell rnn -H 8 --bi -i 5 > rnn.svg
      rnncalc diagram -c lstm -i 5 -H 8 --unroll 4 > lstm-unrolled.svg
      rnncalc diagram examples/sentiment.yaml -f mermaid
    """
    from rnncalc.diagram import draw

    emit(draw(subject_from(files, flags), DiagramFormat(fmt), unroll, framework_names).rstrip("\n"))
