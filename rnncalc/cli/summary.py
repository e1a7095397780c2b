"""``rnncalc summary``: the analytic answer for flags or config files, no framework imported."""

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
    max_file_size_option,
    spec_from_flags,
    spec_options,
)
from rnncalc.core.errors import SpecError
from rnncalc.summary.render import Format, render_analysis


@click.command(cls=RnncalcCommand)
@files_argument
@spec_options
@format_option(Format)
@frameworks_option
@max_file_size_option
def summary(
    files: tuple[str, ...], fmt: str, framework_names: tuple[str, ...], max_file_size: int, **flags: Any
) -> None:
    """Parameters, weights and output shapes of a recurrent stack in each framework's conventions.

    FILES are config files (YAML, JSON, TOML, JSONL, Keras model JSON; - for stdin). Flags
    given with files override the files' fields: on a model with several layers, batch and
    time flags apply to the model, --input to the first layer, the others to every layer.

    \b
    Examples:
      rnncalc summary --cell rnn --hidden 8 --bi --input 5
      rnncalc summary -c lstm -i 300 -H 512 -l 2 --batch 32 --seq-len 100 -f json
      rnncalc summary examples/sentiment.yaml
      rnncalc summary -c gru -i 10 -H 3 -F all
    """
    from rnncalc.analysis import analyze

    fmt_enum = Format(fmt)
    if not files:
        emit(render_analysis(analyze(spec_from_flags(flags), framework_names), fmt_enum))
        return
    from rnncalc.analysis import analyze_model
    from rnncalc.core.model import override
    from rnncalc.io.config import BadEntry, read_sources
    from rnncalc.summary.render import render_model, to_json

    fields = given_fields(flags)
    documents: list[Any] = []
    first = True
    for entry in read_sources(list(files), max_file_size):
        if isinstance(entry, BadEntry):
            raise entry.error
        try:
            model = override(entry.model, fields)
        except SpecError as error:
            raise click.UsageError(f"{flag_for(error.field)}: {error.message}") from None
        if model.is_flat:
            analysis: Any = analyze(model.layers[0], framework_names)
            text = render_analysis(analysis, fmt_enum)
        else:
            analysis = analyze_model(model, framework_names)
            text = render_model(analysis, fmt_enum)
        if fmt_enum is Format.JSON:
            documents.append(analysis.to_dict())
        else:  # written as each model is read: a long JSONL stream is never held
            emit(text if first else f"\n{text}")
        first = False
    if fmt_enum is Format.JSON:
        emit(to_json(documents[0] if len(documents) == 1 else documents))
