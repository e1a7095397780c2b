"""``rnncalc explain`` and ``rnncalc code``: the equations with this model's numbers, and the
code that builds it. Both are pure text: no framework (nor numpy) is imported."""

from __future__ import annotations

from typing import Any

import click

from rnncalc.cli.command import RnncalcCommand
from rnncalc.cli.options import emit, flag_for, spec_from_flags, spec_options
from rnncalc.core.errors import SpecError
from rnncalc.core.spec import Framework, Spec

#: ``--framework`` values of ``rnncalc code``; ``all`` means every framework, PyTorch first.
FRAMEWORK_CHOICES: dict[str, tuple[Framework, ...]] = {
    "all": (Framework.TORCH, Framework.KERAS),
    "torch": (Framework.TORCH,),
    "keras": (Framework.KERAS,),
}
SEPARATOR = "# " + "-" * 78


def _snippets(spec: Spec, frameworks: tuple[Framework, ...]) -> dict[Framework, str]:
    """The scripts, with a missing input size reported under its flag."""
    from rnncalc.explain.code import snippets

    try:
        return snippets(spec, frameworks)
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
@click.option("--code", "with_code", is_flag=True, help="Append the PyTorch and Keras 3 code for this model.")
def explain(fmt: str, with_code: bool, **flags: Any) -> None:
    """The cell's equations with this model's numbers: every weight's shape and count, the sum
    per layer, each framework's total, and why PyTorch and Keras differ.

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
    explanation = build(spec)
    if with_code:
        explanation = add_code(explanation, _snippets(spec, FRAMEWORK_CHOICES["all"]))
    emit(render_explanation(explanation, ExplainFormat(fmt.lower())))


@click.command(cls=RnncalcCommand)
@spec_options
@click.option(
    "--framework",
    "-F",
    type=click.Choice(list(FRAMEWORK_CHOICES), case_sensitive=False),
    default="all",
    show_default=True,
    help="Which framework's script to print.",
)
def code(framework: str, **flags: Any) -> None:
    """A runnable script that builds this exact model and prints its weights, output shapes and,
    on its last line, its parameter count. A framework that cannot build the model gets a
    comment saying why.

    \b
    Examples:
      rnncalc code --cell lstm -i 5 -H 8 -l 2 --bi --framework keras > model.py
      rnncalc code -c gru -i 10 -H 3 -F torch | python
    """
    spec = spec_from_flags(flags)
    sources = _snippets(spec, FRAMEWORK_CHOICES[framework.lower()])
    emit(f"\n{SEPARATOR}\n\n".join(source.rstrip("\n") for source in sources.values()))
