"""``rnncalc verify``: the real framework's forward pass against the numpy reference."""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

import click

from rnncalc.cli.command import RnncalcCommand
from rnncalc.cli.options import (
    ByteSizeType,
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
from rnncalc.cli.progress import progress, quiet_option
from rnncalc.core.errors import INSTALL_HINTS, FrameworkMissingError
from rnncalc.core.spec import did_you_mean
from rnncalc.core.text import shown
from rnncalc.verify.model import DEFAULT_ATOL
from rnncalc.verify.render import VerifyFormat, render_verification

#: Largest seed: NumPy's legacy seeding and ``torch.manual_seed`` both take 32-bit unsigned seeds
#: here, and a negative seed is an error in NumPy.
MAX_SEED = 2**32 - 1
#: Bytes ``verify`` needs per float32 byte of weights and activations (check's estimate):
#: measured 1.7 (LSTM 256 -> 2048, batch 32 x 64 steps, PyTorch: 159 MB estimated, 270 MB
#: of peak RSS above the interpreter with torch imported), rounded up.
VERIFY_MEMORY_FACTOR = 2


class FiniteFloat(click.ParamType):  # type: ignore[type-arg]
    """A finite number at least 0: ``nan`` would make every comparison fail, ``inf`` none."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        import math

        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{shown(value)} is not a number", param, ctx)
        if not math.isfinite(number) or number < 0:
            self.fail(f"must be a finite number at least 0, got {shown(value)}", param, ctx)
        return number


def _check_memory(spec: Any, names: tuple[str, ...], limit: int, model: Any = None) -> None:
    """Refuse (exit 2) a verification whose estimated memory exceeds ``--max-memory``; for a
    whole ``model`` (``spec`` its first block), its largest report's weights and the first
    block's activations."""
    from rnncalc import frameworks as registry
    from rnncalc.check.run import memory_need
    from rnncalc.core.units import format_bytes
    from rnncalc.frameworks.adapter import probe_spec

    probe = probe_spec(spec)
    if model is not None:
        reports = [registry.get(name).model_report(model) for name in names]
    else:
        reports = [registry.get(name).report(probe) for name in names]
    params = max((report.total.value for report in reports if report.supported), default=0)
    need = VERIFY_MEMORY_FACTOR * memory_need(probe, params).total
    if need > limit:
        raise click.UsageError(
            f"--max-memory: verifying needs about {format_bytes(need)} > {format_bytes(limit)}; "
            "use smaller sizes or raise --max-memory"
        )


def _numpy_installed() -> bool:
    """True when numpy can be imported (asked of importlib, not imported)."""
    try:
        return importlib.util.find_spec("numpy") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules["numpy"] is None
        return False


def parse_against(text: str | None, listed: tuple[str, ...]) -> tuple[str, ...]:
    """Registry names for ``--against``; None → every installed framework among ``listed`` (``-F``),
    or all of ``listed`` when none is installed. ``none`` is refused: verify compares frameworks."""
    from rnncalc import frameworks

    if text is None:
        installed = frameworks.installed()
        return tuple(name for name in listed if name in installed) or listed
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if not names:
        raise click.UsageError(f"--against: name at least one framework ({', '.join(frameworks.names())})")
    if "none" in names:
        raise click.UsageError(
            "--against none is not meaningful for verify: it compares the real frameworks with the "
            f"numpy reference; name one or more of {', '.join(frameworks.names())}"
        )
    if names == ["all"]:
        return frameworks.names()
    choices = frameworks.names()
    for name in names:
        if name not in choices:
            raise click.UsageError(
                f"--against: unknown framework {shown(name)}{did_you_mean(name, choices)}; "
                f"choose {', '.join(choices)} or all"
            )
    return tuple(dict.fromkeys(names))


@click.command(cls=RnncalcCommand)
@files_argument
@spec_options
@click.option(
    "--against",
    "-a",
    metavar="FRAMEWORKS",
    help="Comma-separated registry names, or all.  [default: every installed one of -F]",
)
@frameworks_option
@click.option(
    "--seed",
    type=click.IntRange(0, MAX_SEED),
    default=0,
    show_default=True,
    help="Seed for the weights and the input (0 to 2**32 - 1, as NumPy takes it).",
)
@click.option(
    "--atol",
    type=FiniteFloat(),
    default=DEFAULT_ATOL,
    show_default=True,
    help="Largest absolute difference that still agrees.",
)
@click.option(
    "--max-memory",
    type=ByteSizeType(),
    default="1GiB",
    show_default=True,
    help="Refuse to run when the estimated memory (weights and forward passes) exceeds this.",
)
@click.option("--require", is_flag=True, help="Fail (exit 1) when a requested framework is not installed.")
@format_option(VerifyFormat)
@quiet_option
@max_file_size_option
def verify(
    files: tuple[str, ...],
    fmt: str,
    against: str | None,
    framework_names: tuple[str, ...],
    seed: int,
    atol: float,
    max_memory: int,
    require: bool,
    quiet: bool,
    max_file_size: int,
    **flags: Any,
) -> None:
    """Run the real framework and rnncalc's numpy forward pass on the same weights and input.

    Draws each framework's weights and one random input from --seed, loads the weights into
    the real model, runs both forward passes, and reports the largest absolute difference of the
    output and every state. Exit 0 when all agree within --atol, 1 when any differs.

    FILES are config files (YAML, JSON, TOML, JSONL, Keras model JSON; - for stdin). A whole
    model (embedding, recurrent blocks, layer norms, dropout, dense layers) is verified as
    each framework builds it: random canonical weights converted to the framework's tensors
    and loaded into the real model, token ids for an embedding; flags override the files'
    fields as in summary.

    \b
    Examples:
      rnncalc verify --cell lstm -i 5 -H 8 -l 2 --bi --against torch,keras --seed 1
      rnncalc verify -c gru -i 3 -H 4 --no-reset-after --return-state -f json
      rnncalc verify examples/tagger.yaml --against all
    """
    if files:
        frameworks = parse_against(against, framework_names)
        _require_numpy()
        ok = _verify_files(
            files, flags, frameworks, seed, atol, max_memory, require, quiet, max_file_size, fmt
        )
        if not ok:
            sys.exit(1)
        return
    spec = spec_from_flags(flags)
    if spec.input_size is None:
        raise click.UsageError("--input is required: verify runs real forward passes")
    frameworks = parse_against(against, framework_names)
    _require_numpy()
    _check_memory(spec, frameworks, max_memory)

    from rnncalc import frameworks as registry
    from rnncalc.verify.run import verify as run_verification

    with progress(quiet) as status:
        status.importing(["numpy", *(registry.get(name).module for name in frameworks)])
        status.status("running the forward passes...")
        result = run_verification(spec, frameworks, seed=seed, atol=atol, require=require)
    emit(render_verification(result, VerifyFormat(fmt)))
    if not result.ok:
        sys.exit(1)


def _require_numpy() -> None:
    if not _numpy_installed():
        raise FrameworkMissingError(
            f"numpy is not installed; the reference forward pass needs it: {INSTALL_HINTS['numpy']}"
        )


def _verify_files(
    files: tuple[str, ...],
    flags: dict[str, Any],
    frameworks: tuple[str, ...],
    seed: int,
    atol: float,
    max_memory: int,
    require: bool,
    quiet: bool,
    max_file_size: int,
    fmt: str,
) -> bool:
    """Verify every model of every file, rendering each as it is done (JSON: one document, or
    a list of them for several models); True when all agree."""
    from rnncalc import frameworks as registry
    from rnncalc.core.errors import SpecError
    from rnncalc.core.model import override
    from rnncalc.io.config import BadEntry, ConfigError, read_sources
    from rnncalc.summary.render import to_json
    from rnncalc.verify.run import probe_model, verify_model
    from rnncalc.verify.run import verify as run_verification

    fields = given_fields(flags)
    documents: list[Any] = []
    ok = True
    with progress(quiet) as status:
        status.importing(["numpy", *(registry.get(name).module for name in frameworks)])
        for entry in read_sources(list(files), max_file_size):
            if isinstance(entry, BadEntry):
                raise entry.error
            try:
                model = override(entry.model, fields)
                if model.input_size is None:
                    raise SpecError("input_size", "is required: verify runs real forward passes")
                if model.is_flat:
                    spec = model.layers[0]
                    _check_memory(spec, frameworks, max_memory)
                else:
                    probe = probe_model(model)
                    first = probe.layers[0].replace(input_size=probe.input_size)
                    _check_memory(first, frameworks, max_memory, probe)
            except SpecError as error:
                if fields and error.field in fields:
                    raise click.UsageError(f"{flag_for(error.field)}: {error.message}") from None
                key = f"{entry.key}.{error.field}" if entry.key else error.field
                raise ConfigError(entry.file, entry.line, key, error.message) from None
            status.status(f"running the forward passes of {entry.label}...")
            if model.is_flat:
                result = run_verification(spec, frameworks, seed, atol, require)
            else:
                result = verify_model(model, frameworks, seed, atol, require)
            ok = ok and result.ok
            if VerifyFormat(fmt) is VerifyFormat.JSON:
                documents.append(result.to_dict())
            else:
                status.clear()
                emit(("" if not documents else "\n") + render_verification(result, VerifyFormat(fmt)))
                documents.append(None)
    if VerifyFormat(fmt) is VerifyFormat.JSON:
        emit(to_json(documents[0] if len(documents) == 1 else documents))
    return ok
