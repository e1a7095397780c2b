"""``rnncalc check``: judge budgets and expectations analytically, then cross-check the real
frameworks. Exit 0 when everything holds, 1 when something failed, 2 for bad input."""

from __future__ import annotations

from typing import Any

import click

from rnncalc.cli.options import emit, flag_for, format_option, message, spec_options_many, specs_from_flags
from rnncalc.errors import SpecError
from rnncalc.render_check import CheckFormat
from rnncalc.spec import Framework
from rnncalc.units import parse_bytes, parse_count


class SizeType(click.ParamType):  # type: ignore[type-arg]
    """A count (``1M``, ``250k``, ``1_000_000``) or a byte size (``512MiB``, ``2GB``)."""

    def __init__(self, name: str, parse: Any, metavar: str) -> None:
        self.name = name
        self._parse = parse
        self._metavar = metavar

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return self._metavar

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return int(self._parse(self.name, value))
        except SpecError as error:
            self.fail(error.message, param, ctx)


class AgainstType(click.ParamType):  # type: ignore[type-arg]
    """``torch,keras``, ``all`` (every framework, installed or not) or ``none``."""

    name = "frameworks"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[Framework, ...]:
        if isinstance(value, tuple):
            return value
        words = [word.strip().lower() for word in str(value).split(",") if word.strip()]
        if words == ["none"]:
            return ()
        if words == ["all"]:
            return tuple(Framework)
        choices = [fw.value for fw in Framework]
        unknown = [word for word in words if word not in choices]
        if unknown or not words:
            self.fail(f"{value!r}: choose a comma list of {', '.join(choices)}, or all, or none", param, ctx)
        return tuple(Framework(word) for word in dict.fromkeys(words))

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "torch,keras|all|none"


@click.command()
@spec_options_many
@click.option(
    "--against",
    type=AgainstType(),
    default=None,
    help="Real frameworks to cross-check: a comma list, all, or none (analytic checks only, "
    "imports no framework)  [default: every installed one; all with --require]",
)
@click.option(
    "--require",
    is_flag=True,
    help="Fail when a requested framework is skipped (not installed, or over --max-memory); for CI.",
)
@click.option(
    "--max-params",
    type=SizeType("max_params", parse_count, "N"),
    help="Parameter budget for every framework, e.g. 1M, 250k, 1_000_000.",
)
@click.option(
    "--max-memory",
    type=SizeType("max_memory", parse_bytes, "SIZE"),
    default="1GiB",
    show_default=True,
    help="Above this, PyTorch builds on the meta device and Keras is skipped (512MiB, 2GB...).",
)
@format_option(CheckFormat)
def check(
    against: tuple[Framework, ...] | None,
    require: bool,
    max_params: int | None,
    max_memory: int,
    fmt: str,
    **flags: Any,
) -> None:
    """Check a recurrent stack: budgets analytically, then every number against the real
    frameworks (total params, each weight's name and shape, each output and state shape).

    \b
    Examples:
      rnncalc check --cell lstm -i 300 -H 512 -l 2 --bi --against torch,keras
      rnncalc check --cell gru -i 10 -H 3 --against keras --format json
      rnncalc check -c lstm -i 300 -H 512 --max-params 2M --against none
      rnncalc check -c gru -i 32 -H 64,128,256 -l 1,2 --max-params 250k

    Several --input/--hidden/--layers values check every combination in one run
    (each framework is imported once).
    """
    from rnncalc import backends
    from rnncalc.checking import CheckTarget, Expectations
    from rnncalc.checkrun import CheckOptions, run_check
    from rnncalc.render import describe_spec
    from rnncalc.render_check import render_check

    expectations = Expectations.budget(max_params) if max_params is not None else Expectations()
    targets = [CheckTarget(describe_spec(spec), spec, None, expectations) for spec in specs_from_flags(flags)]
    if against is None:  # by default every installed framework; under --require, every framework
        against = tuple(Framework) if require else tuple(backends.installed())
    frameworks = against
    options = CheckOptions(frameworks, require, max_memory)
    try:
        report = run_check(targets, options)
    except SpecError as error:
        raise click.UsageError(f"{flag_for(error.field)}: {error.message}") from None
    emit(render_check(report, CheckFormat(fmt)))
    failures = report.failures()
    for line in failures:
        message(f"rnncalc: FAILED {line}")
    failed = sum(result.failed(report.require) for result in report.results)
    if failed:
        message(f"rnncalc: check failed: {failed} of {len(report.results)} model(s)")
    if not frameworks:
        message("rnncalc: no real framework checked (--against none or none installed)")
    click.get_current_context().exit(report.exit_code)
