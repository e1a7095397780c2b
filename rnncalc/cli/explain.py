"""``rnncalc explain`` and ``rnncalc code``: the equations with this model's numbers, and the
code that builds it. Both are pure text: no framework (nor numpy) is imported."""

from __future__ import annotations

from typing import Any

import click

from rnncalc import frameworks as registry
from rnncalc.cli.command import RnncalcCommand
from rnncalc.cli.options import (
    FrameworkList,
    emit,
    files_argument,
    flag_for,
    frameworks_option,
    given_fields,
    max_file_size_option,
    spec_from_flags,
    spec_options,
)
from rnncalc.core.errors import SpecError
from rnncalc.core.spec import Spec

SEPARATOR = "# " + "-" * 78


def _snippets(spec: Spec, names: tuple[str, ...]) -> dict[str, str]:
    """The scripts, with a missing input size reported under its flag."""
    from rnncalc.explain.code import snippets

    try:
        return snippets(spec, names)
    except SpecError as error:
        raise click.UsageError(f"{flag_for(error.field)}: {error.message}") from None


@click.command(cls=RnncalcCommand)
@spec_options
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["text", "markdown"], case_sensitive=False),
    default="text",
    show_default=True,
    help="Plain text for a terminal (80 columns), or markdown for a notebook or a pull request.",
)
@click.option("--code", "with_code", is_flag=True, help="Append each chosen framework's code for this model.")
@frameworks_option
def explain(fmt: str, with_code: bool, framework_names: tuple[str, ...], **flags: Any) -> None:
    """The cell's equations with this model's numbers: every weight's shape and count, the sum
    per layer, each framework's total, and why the first two chosen frameworks differ.

    \b
    Examples:
      rnncalc explain --cell rnn -i 5 -H 8 --bi
      rnncalc explain -c gru -i 10 -H 3 --no-reset-after -f markdown
      rnncalc explain -c lstm -i 5 -H 8 --code
    """
    from rnncalc.explain.model import explain as build
    from rnncalc.explain.model import with_code as add_code
    from rnncalc.explain.render import ExplainFormat, render_explanation

    spec = spec_from_flags(flags)
    explanation = build(spec, framework_names)
    if with_code:
        explanation = add_code(explanation, _snippets(spec, framework_names))
    emit(render_explanation(explanation, ExplainFormat(fmt.lower())))


@click.command(cls=RnncalcCommand)
@files_argument
@spec_options
@click.option(
    "--frameworks",
    "--framework",
    "-F",
    "framework_names",
    type=FrameworkList(),
    default=",".join(registry.default_names()),
    show_default=True,
    help=f"Whose scripts to print: a comma list of {', '.join(registry.names())}, or all.",
)
@max_file_size_option
def code(files: tuple[str, ...], framework_names: tuple[str, ...], max_file_size: int, **flags: Any) -> None:
    """A runnable script that builds this exact model and prints its weights, output shapes and,
    on its last line, its parameter count. A framework that cannot build the model gets a
    comment saying why.

    FILES are config files (as summary reads them), one script per model and framework: a
    whole model (embedding, recurrent blocks, norms, dropout, dense heads) is built as the
    module whose weight names rnncalc convert writes. Flags given with files override their
    fields, as in summary.

    \b
    Examples:
      rnncalc code --cell lstm -i 5 -H 8 -l 2 --bi --framework keras > model.py
      rnncalc code -c gru -i 10 -H 3 -F torch | python
      rnncalc code examples/tagger.yaml -F flax > tagger.py
    """
    if not files:
        emit(_joined(_snippets(spec_from_flags(flags), framework_names)))
        return
    from rnncalc.core.model import override
    from rnncalc.explain.code import model_snippets
    from rnncalc.io.config import BadEntry, ConfigError, read_sources

    fields = given_fields(flags)
    first = True
    for entry in read_sources(list(files), max_file_size):
        if isinstance(entry, BadEntry):
            raise entry.error
        try:
            sources = model_snippets(override(entry.model, fields), framework_names)
        except SpecError as error:
            if error.field in fields:
                raise click.UsageError(f"{flag_for(error.field)}: {error.message}") from None
            key = f"{entry.key}.{error.field}" if entry.key else error.field
            raise ConfigError(entry.file, entry.line, key, error.message) from None
        emit(_joined(sources) if first else f"\n{SEPARATOR}\n\n{_joined(sources)}")
        first = False


def _joined(sources: dict[str, str]) -> str:
    """The scripts one after the other, a separator line between them."""
    return f"\n{SEPARATOR}\n\n".join(source.rstrip("\n") for source in sources.values())
