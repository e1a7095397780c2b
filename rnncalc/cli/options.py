"""Options shared by every command: the spec flags and the output format, written once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from rnncalc.core.errors import SpecError
from rnncalc.core.limits import DEFAULT_MAX_FILE_SIZE, MAX_COMBINATIONS
from rnncalc.core.spec import (
    CELL_ALIASES,
    Activation,
    Cell,
    MergeMode,
    Nonlinearity,
    Spec,
    did_you_mean,
    parse_cell,
    spec_from_mapping,
)
from rnncalc.core.text import printable, shown

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
    "step": "--step",
    "activation": "--activation",
    "recurrent_activation": "--recurrent-activation",
    "go_backwards": "--go-backwards",
    "unit_forget_bias": "--unit-forget-bias/--no-unit-forget-bias",
    "stateful": "--stateful",
    "unroll": "--unroll",
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


class StrictIntType(click.ParamType):  # type: ignore[type-arg]
    """An integer in ASCII digits (``1_000`` allowed); click's ``int`` also takes ``٣`` as 3."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value)
        if text.isascii() and text.isdigit() and len(text) <= 40:  # the common case, no import
            return int(text)
        from rnncalc.core.units import parse_int

        number = parse_int(text)
        if number is None:
            digits = str(value).strip().lstrip("+").isdigit()
            self.fail(f"{shown(value)} is {'too large' if digits else 'not a valid integer'}", param, ctx)
        return number


STRICT_INT = StrictIntType()


class IntListType(click.ParamType):  # type: ignore[type-arg]
    """One integer or a comma list (``64,128``); repeated flags add more values."""

    name = "int[,int...]"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return (value,)
        from rnncalc.core.units import parse_int

        numbers = [parse_int(word) for word in str(value).split(",")]
        if any(number is None for number in numbers):
            self.fail(f"{shown(value)} is not an integer or a comma list of integers", param, ctx)
        return tuple(number for number in numbers if number is not None)


#: Integer flags that ``spec_options_many`` lets the user give several values for.
_SIZED_FLAGS: dict[str, tuple[tuple[str, ...], str]] = {
    "input_size": (("--input", "-i", "input_size"), "Input features I; omit for formulas in I."),
    "hidden_size": (("--hidden", "-H", "hidden_size"), "Hidden size (units)."),
    "num_layers": (("--layers", "-l", "num_layers"), "Stacked layers  [default: 1]"),
}
#: Spec fields that a command may let the user give several values for (one spec per combination).
MANY_FIELDS = frozenset(_SIZED_FLAGS)


def _sized_option(field: str, many: bool) -> Callable[[F], F]:
    """An integer spec flag; with ``many`` it takes several values (repeated or comma list)."""
    decls, help_text = _SIZED_FLAGS[field]
    if not many:
        return click.option(*decls, type=STRICT_INT, help=help_text)
    text, bracket, default = help_text.partition("  [")
    several = (
        f"{text.rstrip('.')}; several: a comma list or repeat the flag{'  [' if bracket else ''}{default}"
    )
    return click.option(*decls, type=IntListType(), multiple=True, help=several)


#: Spec field → its click option, in the order ``--help`` lists them.
SPEC_OPTIONS_BY_FIELD: dict[str, Callable[[F], F]] = {
    "cell": click.option(
        "--cell", "-c", type=CellType(), help=f"Cell type (aliases: {', '.join(CELL_ALIASES)})."
    ),
    **{field: _sized_option(field, many=False) for field in _SIZED_FLAGS},
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
        "--proj-size", type=STRICT_INT, help="LSTM projection size (PyTorch only)  [default: 0]"
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
        "--batch", "-b", "batch_size", type=STRICT_INT, help="Batch size; unknown (None) if omitted."
    ),
    "seq_len": click.option(
        "--seq-len",
        "--timesteps",
        "-t",
        "seq_len",
        type=STRICT_INT,
        help="Sequence length; unknown if omitted.",
    ),
    "unbatched": click.option(
        "--unbatched", is_flag=True, default=None, help="PyTorch unbatched input (L, I)."
    ),
    "step": click.option(
        "--step", is_flag=True, default=None, help="One time step of a cell (nn.LSTMCell, keras LSTMCell)."
    ),
    "activation": click.option(
        "--activation",
        type=_choice(Activation),
        help="Keras activation (rnn: the nonlinearity)  [default: tanh]",
    ),
    "recurrent_activation": click.option(
        "--recurrent-activation",
        type=_choice(Activation),
        help="Keras gate activation (lstm, gru)  [default: sigmoid]",
    ),
    "go_backwards": click.option(
        "--go-backwards", is_flag=True, default=None, help="Keras go_backwards=True (reversed output)."
    ),
    "unit_forget_bias": click.option(
        "--unit-forget-bias/--no-unit-forget-bias",
        default=None,
        help="Keras LSTM forget-bias init  [default: unit-forget-bias]",
    ),
    "stateful": click.option(
        "--stateful", is_flag=True, default=None, help="Keras stateful=True (needs --batch)."
    ),
    "unroll": click.option(
        "--unroll", is_flag=True, default=None, help="Keras unroll=True (needs --seq-len)."
    ),
}


def _decorate(options: list[Callable[[F], F]]) -> Callable[[F], F]:
    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def spec_options(command: F) -> F:
    """Add every spec flag to ``command``; they arrive as keyword arguments named by field."""
    return _decorate(list(SPEC_OPTIONS_BY_FIELD.values()))(command)


def spec_options_many(command: F) -> F:
    """Like :func:`spec_options`, but ``--input``, ``--hidden`` and ``--layers`` take several
    values (``--hidden 64,128`` or ``--hidden 64 --hidden 128``); use :func:`specs_from_flags`."""
    options = [
        _sized_option(name, many=True) if name in MANY_FIELDS else option
        for name, option in SPEC_OPTIONS_BY_FIELD.items()
    ]
    return _decorate(options)(command)


def spec_options_without(*fields: str) -> Callable[[F], F]:
    """Every spec flag except those of ``fields``, for commands that take them in another form
    (``sweep`` takes lists of cells and hidden sizes, ``solve`` finds the hidden size)."""
    unknown = [name for name in fields if name not in SPEC_OPTIONS_BY_FIELD]
    if unknown:
        raise ValueError(f"not spec fields: {unknown}")
    return _decorate([option for name, option in SPEC_OPTIONS_BY_FIELD.items() if name not in fields])


def specs_from_flags(values: dict[str, Any]) -> list[Spec]:
    """One spec per combination of the several-valued flags (in the order given), else one spec."""
    import itertools
    import math

    lists: dict[str, list[int]] = {}
    for name in MANY_FIELDS & values.keys():
        given = values[name]
        if isinstance(given, tuple):
            flat = list(dict.fromkeys(number for group in given for number in group))
            if flat:
                lists[name] = flat
    names = sorted(lists, key=list(FIELD_FLAGS).index)
    count = math.prod(len(lists[name]) for name in names)
    if count > MAX_COMBINATIONS:  # counted before one is built
        flags = " x ".join(f"{len(lists[name])} {flag_for(name)}" for name in names)
        raise click.UsageError(f"{flags} make {count:,} combinations; at most {MAX_COMBINATIONS:,}")
    combos = itertools.product(*(lists[name] for name in names))
    base = {name: value for name, value in values.items() if name not in MANY_FIELDS}
    return [spec_from_flags({**base, **dict(zip(names, combo, strict=True))}) for combo in combos]


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


def format_option(
    formats: type[Any] | tuple[str, ...],
    default: str = "table",
    help: str = "Output format: tables for people, JSON for machines.",
) -> Callable[[F], F]:
    """``--format/-f`` restricted to an enum's values (or to the given names)."""
    choices = formats if isinstance(formats, tuple) else tuple(member.value for member in formats)
    return click.option(
        "--format",
        "-f",
        "fmt",
        type=click.Choice(choices, case_sensitive=False),
        default=default,
        show_default=True,
        help=help,
    )


def emit(text: str) -> None:
    """Write data to stdout (messages go to stderr via :func:`message`)."""
    click.echo(text)


def message(text: str) -> None:
    """Write one message line to stderr, control characters escaped."""
    click.echo(printable(text), err=True)


class ConfigFile(click.ParamType):  # type: ignore[type-arg]
    """A config file's path, or ``-`` for stdin; the shell completes it as a file name.

    Not ``click.Path``: building one looks up its name through gettext (0.6 ms of every start,
    see :mod:`rnncalc.cli.command`), and the config reader reports unreadable files itself,
    with the file named.
    """

    name = "file"

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        from click.shell_completion import CompletionItem  # only completion needs it

        return [CompletionItem(incomplete, type="file")]


#: Config files as positional arguments; ``-`` reads stdin.
files_argument = click.argument("files", nargs=-1, type=ConfigFile(), metavar="[FILE]...")


class FrameworkList(click.ParamType):  # type: ignore[type-arg]
    """A comma list of registry names (``torch,keras``), or ``all``; ``none`` where allowed.

    Names are validated against :mod:`rnncalc.frameworks` when the value is converted, so a bad
    one is one line naming the flag and the valid names. ``registry_order`` sorts the choice in
    the registry's order (tables, JSON keys, the "why they differ" pair); otherwise the order
    given is kept.
    """

    name = "frameworks"

    def __init__(self, allow_none: bool = False, registry_order: bool = True) -> None:
        self.allow_none = allow_none
        self.registry_order = registry_order

    def _extras(self) -> list[str]:
        return ["all", "none"] if self.allow_none else ["all"]

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        from rnncalc import frameworks

        words = [word.strip().lower() for word in str(value).split(",") if word.strip()]
        if words == ["all"]:
            return frameworks.names()
        if words == ["none"] and self.allow_none:
            return ()
        known = frameworks.names()
        unknown = [word for word in words if word not in known]
        if unknown or not words:
            hint = did_you_mean(unknown[0], known) if unknown else ""
            choices = ", ".join([*known, *self._extras()][:-1]) + f" or {self._extras()[-1]}"
            self.fail(f"unknown framework {shown(value)}{hint}; choose a comma list of {choices}", param, ctx)
        chosen = tuple(dict.fromkeys(words))
        return tuple(n for n in known if n in chosen) if self.registry_order else chosen

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        if not self.allow_none:
            return "LIST"
        from rnncalc import frameworks

        return ",".join(frameworks.names()) + "|all|none"

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        """Registry names and ``all`` (and ``none``); after a comma, the names not yet listed."""
        from click.shell_completion import CompletionItem  # only completion needs it

        from rnncalc import frameworks

        head, _, last = incomplete.rpartition(",")
        if head:
            listed = set(head.split(","))
            words = [name for name in frameworks.names() if name not in listed]
            return [CompletionItem(f"{head},{word}") for word in words if word.startswith(last)]
        words = [*frameworks.names(), *self._extras()]
        return [CompletionItem(word) for word in words if word.startswith(last)]


def frameworks_option(command: F) -> F:
    """``-F/--frameworks LIST``: which registered frameworks to show (default: the ones shown to
    people, PyTorch and Keras; ``all``: every registered one)."""
    from rnncalc import frameworks

    default = ",".join(frameworks.default_names())
    return click.option(
        "--frameworks",
        "-F",
        "framework_names",
        type=FrameworkList(),
        default=default,
        show_default=True,
        help=f"Comma list of {', '.join(frameworks.names())}, or all.",
    )(command)


class ByteSizeType(click.ParamType):  # type: ignore[type-arg]
    """A byte size (``512MiB``, ``2GB``, ``4096``), read by :func:`rnncalc.core.units.parse_bytes`."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        from rnncalc.core.units import parse_bytes

        try:
            return parse_bytes(param.name if param and param.name else "size", value)
        except SpecError as error:
            self.fail(error.message, param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "SIZE"


#: ``--max-file-size``: the largest config document read (a JSONL line, for JSONL).
max_file_size_option = click.option(
    "--max-file-size",
    type=ByteSizeType(),
    default=DEFAULT_MAX_FILE_SIZE,
    help="Largest config file read (each line, for JSONL), e.g. 64MiB  [default: 4MiB]",
)
