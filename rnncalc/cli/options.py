"""Options shared by every command: the spec flags and the output format, written once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from rnncalc.errors import SpecError
from rnncalc.spec import CELL_ALIASES, Cell, MergeMode, Nonlinearity, Spec, parse_cell, spec_from_mapping

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

F = TypeVar("F", bound=Callable[..., Any])

#: Spec field → the flag a user typed, for error messages.
FIELD_FLAGS: dict[str, str] = {
    "cell": "--cell",
    "input_size": "--input",
    "hidden_size": "--hidden",
    "num_layers": "--layers",
    "bidirectional": "--bi",
    "batch_first": "--batch-first",
    "bias": "--no-bias",
    "nonlinearity": "--nonlinearity",
    "proj_size": "--proj-size",
    "reset_after": "--reset-after/--no-reset-after",
    "return_sequences": "--return-sequences",
    "return_state": "--return-state",
    "merge_mode": "--merge-mode",
    "batch_size": "--batch",
    "seq_len": "--seq-len",
    "unbatched": "--unbatched",
}


class CellType(click.ParamType):  # type: ignore[type-arg]
    """rnn | lstm | gru, accepting aliases such as simplernn; completes the canonical names."""

    name = "cell"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Cell:
        try:
            return parse_cell(value)
        except SpecError as error:
            self.fail(error.message, param, ctx)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        from click.shell_completion import CompletionItem  # only completion needs it

        return [CompletionItem(cell.value) for cell in Cell if cell.value.startswith(incomplete.lower())]

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[rnn|lstm|gru]"


def _choice(enum: Any) -> click.Choice:  # type: ignore[type-arg]
    return click.Choice([member.value for member in enum], case_sensitive=False)


#: Spec field → its click option, in the order ``--help`` lists them.
SPEC_OPTIONS_BY_FIELD: dict[str, Callable[[F], F]] = {
    "cell": click.option(
        "--cell", "-c", type=CellType(), help=f"Cell type (aliases: {', '.join(CELL_ALIASES)})."
    ),
    "input_size": click.option(
        "--input", "-i", "input_size", type=int, help="Input features I; omit for formulas in I."
    ),
    "hidden_size": click.option("--hidden", "-H", "hidden_size", type=int, help="Hidden size (units)."),
    "num_layers": click.option("--layers", "-l", "num_layers", type=int, help="Stacked layers  [default: 1]"),
    "bidirectional": click.option(
        "--bi/--uni", "--bidirectional", "bidirectional", default=None, help="Bidirectional layers."
    ),
    "batch_first": click.option(
        "--batch-first", is_flag=True, default=None, help="PyTorch batch_first=True."
    ),
    "bias": click.option("--no-bias", "bias", flag_value=False, default=None, help="Layers without bias."),
    "nonlinearity": click.option(
        "--nonlinearity", type=_choice(Nonlinearity), help="RNN activation  [default: tanh]"
    ),
    "proj_size": click.option(
        "--proj-size", type=int, help="LSTM projection size (PyTorch only)  [default: 0]"
    ),
    "reset_after": click.option(
        "--reset-after/--no-reset-after", default=None, help="GRU variant (Keras)  [default: reset-after]"
    ),
    "return_sequences": click.option(
        "--return-sequences", is_flag=True, default=None, help="Keras return_sequences=True."
    ),
    "return_state": click.option(
        "--return-state", is_flag=True, default=None, help="Keras return_state=True."
    ),
    "merge_mode": click.option(
        "--merge-mode", type=_choice(MergeMode), help="Keras Bidirectional merge  [default: concat]"
    ),
    "batch_size": click.option(
        "--batch", "-b", "batch_size", type=int, help="Batch size; unknown (None) if omitted."
    ),
    "seq_len": click.option(
        "--seq-len", "--timesteps", "-t", "seq_len", type=int, help="Sequence length; unknown if omitted."
    ),
    "unbatched": click.option(
        "--unbatched", is_flag=True, default=None, help="PyTorch unbatched input (L, I)."
    ),
}
_SPEC_OPTIONS: list[Callable[[F], F]] = list(SPEC_OPTIONS_BY_FIELD.values())


def spec_options(command: F) -> F:
    """Add every spec flag to ``command``; they arrive as keyword arguments named by field."""
    for option in reversed(_SPEC_OPTIONS):
        command = option(command)
    return command


def spec_options_without(*fields: str) -> Callable[[F], F]:
    """Every spec flag except those of ``fields``, for commands that take them in another form
    (``sweep`` takes lists of cells and hidden sizes, ``solve`` finds the hidden size)."""
    unknown = [name for name in fields if name not in SPEC_OPTIONS_BY_FIELD]
    if unknown:
        raise ValueError(f"not spec fields: {unknown}")
    chosen = [option for name, option in SPEC_OPTIONS_BY_FIELD.items() if name not in fields]

    def decorate(command: F) -> F:
        for option in reversed(chosen):
            command = option(command)
        return command

    return decorate


def given_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The spec fields the user actually passed (click gives None for the rest)."""
    return {name: value for name, value in values.items() if name in FIELD_FLAGS and value is not None}


def spec_from_flags(values: dict[str, Any]) -> Spec:
    """Build a spec from the flags alone; errors name the flag."""
    fields = given_fields(values)
    for required in ("cell", "hidden_size"):
        if required not in fields:
            raise click.UsageError(f"{FIELD_FLAGS[required]} is required")
    try:
        return spec_from_mapping(fields)
    except SpecError as error:
        raise click.UsageError(f"{flag_for(error.field)}: {error.message}") from None


def flag_for(field: str) -> str:
    return FIELD_FLAGS.get(field, field)


def format_option(formats: type[Any], default: str = "table") -> Callable[[F], F]:
    """``--format/-f`` restricted to the given enum's values."""
    return click.option(
        "--format",
        "-f",
        "fmt",
        type=_choice(formats),
        default=default,
        show_default=True,
        help="Output format: tables for people, JSON for machines.",
    )


def emit(text: str) -> None:
    """Write data to stdout (messages go to stderr via :func:`message`)."""
    click.echo(text)


def message(text: str) -> None:
    click.echo(text, err=True)


#: Config files as positional arguments; ``-`` reads stdin.
files_argument = click.argument(
    "files",
    nargs=-1,
    type=click.Path(allow_dash=True, dir_okay=False),
    metavar="[FILE]...",
)
