"""``rnncalc verify``: the real framework's forward pass against the numpy reference."""

from __future__ import annotations

import sys
from typing import Any

import click

from rnncalc.cli.command import RnncalcCommand
from rnncalc.cli.options import emit, format_option, spec_from_flags, spec_options
from rnncalc.cli.progress import progress, quiet_option
from rnncalc.core.errors import FrameworkMissingError
from rnncalc.core.spec import Framework, did_you_mean
from rnncalc.frameworks import module_available
from rnncalc.verify.model import DEFAULT_ATOL
from rnncalc.verify.render import VerifyFormat, render_verification


def parse_against(text: str | None) -> list[Framework]:
    """``torch,keras`` → frameworks; None → every installed framework. ``none`` is refused."""
    from rnncalc.frameworks import installed

    if text is None:
        return installed() or list(Framework)
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if not names:
        raise click.UsageError("--against: name at least one framework (torch, keras)")
    if "none" in names:
        raise click.UsageError(
            "--against none is not meaningful for verify: it compares the real frameworks with the "
            "numpy reference; name torch, keras or both"
        )
    choices = [framework.value for framework in Framework]
    frameworks: list[Framework] = []
    for name in names:
        if name not in choices:
            raise click.UsageError(
                f"--against: unknown framework {name!r}{did_you_mean(name, choices)}; choose torch, keras"
            )
        if Framework(name) not in frameworks:
            frameworks.append(Framework(name))
    return frameworks


@click.command(cls=RnncalcCommand)
@spec_options
@click.option(
    "--against",
    "-a",
    metavar="FRAMEWORKS",
    help="Comma-separated: torch, keras.  [default: every installed framework]",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the weights and the input.")
@click.option(
    "--atol",
    type=click.FloatRange(min=0),
    default=DEFAULT_ATOL,
    show_default=True,
    help="Largest absolute difference that still agrees.",
)
@click.option("--require", is_flag=True, help="Fail (exit 1) when a requested framework is not installed.")
@format_option(VerifyFormat)
@quiet_option
def verify(
    fmt: str, against: str | None, seed: int, atol: float, require: bool, quiet: bool, **flags: Any
) -> None:
    """Run the real framework and rnncalc's numpy forward pass on the same weights and input.

    Builds the model in each framework with --seed, takes its initialised weights, runs both
    forward passes on one seeded random input, and reports the largest absolute difference of the
    output and every state. Exit 0 when all agree within --atol, 1 when any differs.

    \b
    Examples:
      rnncalc verify --cell lstm -i 5 -H 8 -l 2 --bi --against torch,keras --seed 1
      rnncalc verify -c gru -i 3 -H 4 --no-reset-after --return-state -f json
    """
    spec = spec_from_flags(flags)
    if spec.input_size is None:
        raise click.UsageError("--input is required: verify runs real forward passes")
    frameworks = parse_against(against)
    if not module_available("numpy"):
        raise FrameworkMissingError(
            "numpy is not installed; the reference forward pass needs it: pip install 'rnncalc[numpy]'"
        )

    from rnncalc.frameworks import REQUIRED_MODULE
    from rnncalc.verify.run import verify as run_verification

    with progress(quiet) as status:
        status.importing(["numpy", *(REQUIRED_MODULE[framework] for framework in frameworks)])
        status.status("running the forward passes...")
        result = run_verification(spec, frameworks, seed=seed, atol=atol, require=require)
    emit(render_verification(result, VerifyFormat(fmt)))
    if not result.ok:
        sys.exit(1)
