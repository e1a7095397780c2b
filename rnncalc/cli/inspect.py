"""``rnncalc inspect``: the whole model in a checkpoint, a Keras file or an ONNX export."""

from __future__ import annotations

import click

from rnncalc.cli.command import RnncalcCommand
from rnncalc.cli.options import ConfigFile, emit, format_option
from rnncalc.summary.render import Format


@click.command(cls=RnncalcCommand)
@click.argument("files", nargs=-1, required=True, type=ConfigFile(), metavar="FILE...")
@format_option(
    (*(member.value for member in Format), "yaml", "toml"),
    help="Output format: tables for people, JSON for machines; yaml and toml write the models "
    "as a config file (JSON is one too).",
)
def inspect(files: tuple[str, ...], fmt: str) -> None:
    """What a weight file holds: the whole model as a chain of parts (embedding, recurrent
    blocks inferred from tensor names and shapes, layer norms, dropout, dense layers), each
    part's count here and in the other frameworks, and the tensors no chain takes. With
    -f yaml (or toml, json) the models are written as a config file that summary reads.

    FILE is a PyTorch state dict (.pt, .pth, .bin), .safetensors (header only; a sharded
    model.safetensors.index.json or its directory too), a TorchScript or torch.export (.pt2)
    archive (read as data: none of its code runs), a Keras .keras or legacy .h5 model, a Keras
    model JSON or an ONNX model (.onnx). The total equals the framework's own count:
    sum(numel) of the state dict, model.count_params(), the ONNX initializers.

    \b
    Examples:
      rnncalc inspect model.pt
      rnncalc inspect model.safetensors model.keras -f json
    """
    from rnncalc.inspect.live import inspected
    from rnncalc.inspect.render import CONFIG_FORMATS, render_config, render_inspections

    inspections = [inspected(path) for path in files]
    if fmt in CONFIG_FORMATS:
        emit(render_config(inspections, fmt))
    else:
        emit(render_inspections(inspections, Format(fmt)))
