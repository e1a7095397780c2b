"""``rnncalc convert``: a recurrent stack's weights from one framework's file into another's."""

from __future__ import annotations

import os
import sys

import click

from rnncalc.cli.command import RnncalcCommand
from rnncalc.cli.options import ConfigFile
from rnncalc.cli.progress import progress, quiet_option
from rnncalc.core.errors import SpecError
from rnncalc.core.spec import Nonlinearity

#: Largest absolute difference ``--verify`` accepts by default: float32 rounding over a few steps.
DEFAULT_ATOL = 1e-5


def target_choices() -> list[str]:
    """The ``--to`` values: every format a registered convention writes."""
    from rnncalc.convert.plan import targets

    return list(targets())


@click.command(cls=RnncalcCommand)
@click.argument("source", type=ConfigFile(), metavar="SRC")
@click.option(
    "-o",
    "--output",
    "destination",
    required=True,
    type=ConfigFile(),
    metavar="DST",
    help="File to write; its extension picks the target: .pt, .safetensors, .keras, .onnx, .msgpack.",
)
@click.option(
    "--to", "to", type=click.Choice(target_choices()), help="Target format, overriding DST's extension."
)
@click.option("--force", is_flag=True, help="Replace DST if it exists.")
@click.option(
    "--nonlinearity",
    type=click.Choice([n.value for n in Nonlinearity]),
    help="An RNN's activation, for a source that does not record it (a PyTorch state dict).  "
    "[default: the file's, else tanh]",
)
@click.option(
    "--part",
    "part",
    metavar="NAME[,NAME...]",
    help="Convert these parts of SRC, in order (as inspect lists them: embed,encoder); "
    "needed when SRC holds more than one chain.",
)
@click.option(
    "--model",
    "model_file",
    type=ConfigFile(),
    metavar="FILE",
    help="A config file stating SRC's architecture where the file does not record it (head "
    "activations, per_step, an RNN's nonlinearity); `rnncalc inspect SRC -f yaml` writes one.",
)
@click.option(
    "--verify/--no-verify",
    default=None,
    help="Run source and target on the same random input and report the largest difference: a "
    "file holding its graph (.keras, .h5, .onnx) run by its framework, else the model rnncalc rebuilt.  "
    "[default: on when both frameworks are installed]",
)
@click.option(
    "--atol",
    type=click.FloatRange(min=0),
    default=DEFAULT_ATOL,
    show_default=True,
    help="Largest difference --verify accepts; above it, exit 1.",
)
@quiet_option
def convert(
    source: str,
    destination: str,
    to: str | None,
    force: bool,
    nonlinearity: str | None,
    part: str | None,
    model_file: str | None,
    verify: bool | None,
    atol: float,
    quiet: bool,
) -> None:
    """Convert the model in SRC into another framework's file DST.

    SRC is a PyTorch state dict (.pt, .pth, .bin), .safetensors (one file, or a sharded index
    or its directory), a TorchScript or torch.export (.pt2) archive (read as data: none of its
    code runs), a Keras .keras or .h5 model, an ONNX model or a Flax NNX state (.msgpack),
    holding a stack of RNN, LSTM or GRU layers, or a whole model: an embedding, recurrent
    blocks, layer norms, dropout and dense heads, in one chain (--part picks one of several).
    DST is a PyTorch state dict (.pt, or .safetensors) that nn.LSTM/GRU/RNN, or for a whole
    model the module `rnncalc code` prints, loads with strict=True; a complete Keras .keras
    model; an ONNX model; or a Flax NNX state (.msgpack). Gate order, transposes and biases
    follow each framework's convention; what the target cannot express (a Keras
    reset_after=False GRU into PyTorch, a projection into Keras) and layers rnncalc does not
    describe are refused before anything is written. What SRC does not record is assumed, said
    on stderr and named in the verify line. DST appears only when complete and is never
    replaced without --force.

    \b
    Examples:
      rnncalc convert lstm.pt -o lstm.keras
      rnncalc convert model.keras -o model.safetensors --atol 1e-6
      rnncalc convert gru.onnx -o gru.bin --to torch --force
      rnncalc convert seq2seq.pt -o encoder.keras --part embed,encoder
      rnncalc convert tagger.pt -o tagger.onnx --model tagger.yaml
    """
    from rnncalc.convert import write_plan
    from rnncalc.convert.plan import make_plan
    from rnncalc.core.spec import describe_spec
    from rnncalc.io.config import load_model
    from rnncalc.summary.render import describe_model

    chosen = Nonlinearity(nonlinearity) if nonlinearity else None
    parts = tuple(name.strip() for name in part.split(",")) if part else ()
    if any(not name for name in parts):
        raise SpecError("--part", f"an empty name in {part!r}")
    stated = load_model(model_file, "--model") if model_file else None
    status = progress(quiet)
    with status:
        status.status(f"reading {source}...")
        plan = make_plan(source, destination, to, force=force, nonlinearity=chosen, part=parts, model=stated)
        status.clear()
        for note in plan.source.notes:
            click.echo(f"rnncalc: note: {source}: {note}", err=True)
        if plan.target.exact_suffix and os.path.splitext(destination)[1] not in plan.target.suffixes:
            click.echo(
                f"rnncalc: note: {destination}: {plan.target_convention.title} loads this format only "
                f"from a name ending in {plan.target.suffixes[0]!r}; rename the file to load it there",
                err=True,
            )
        if verify is None:
            verify = plan.source.convention.is_installed() and plan.target_convention.is_installed()
        status.importing([plan.target_convention.module])
        status.status(f"writing {destination}...")
        done = write_plan(plan, force=force)
        status.clear()
    if done.rounded:
        names = ", ".join(name for name, _ in done.rounded[:4]) + (" ..." if len(done.rounded) > 4 else "")
        largest = max(change for _, change in done.rounded)
        click.echo(
            f"rnncalc: note: {source}: float64 values rounded to float32 in {len(done.rounded)} "
            f"tensor{'s' if len(done.rounded) > 1 else ''} ({names}): largest change {largest:.3g}",
            err=True,
        )
    model = plan.source.model
    described = describe_model(model) if model is not None else describe_spec(done.plan.spec)
    click.echo(
        f"{destination}: {done.plan.target.description}, {described}: "
        f"{done.tensors} tensors, {done.params:,} parameters, from {plan.source.convention.title}"
    )
    if not verify:
        return
    from rnncalc.convert.verify import compare
    from rnncalc.verify.model import agrees

    with status:
        status.importing([plan.source.convention.module, plan.target_convention.module])
        status.status("running source and target on the same input...")
        verified = compare(done.plan)
    difference = verified.difference
    ok = agrees(difference, atol)
    shown = f"{difference:.3g}" if difference is not None else "not finite (a NaN or infinity in an output)"
    assuming = f", assuming {', '.join(plan.source.assumptions)}" if plan.source.assumptions else ""
    verdict = ("ok" if ok else "FAILED") + assuming
    ran = f"source {verified.source}, target {verified.target}"
    click.echo(f"verify: {ran}: largest |difference| {shown} (atol {atol:g}): {verdict}")
    if not ok:
        sys.exit(1)
