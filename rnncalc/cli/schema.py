"""``rnncalc schema``: the JSON Schema of config files, for editors that validate and complete them."""

from __future__ import annotations

import click

from rnncalc.cli.command import RnncalcCommand
from rnncalc.cli.options import emit


@click.command(cls=RnncalcCommand)
def schema() -> None:
    """Print the JSON Schema (draft 2020-12) of rnncalc's config files: one model, a list of
    models or a mapping with models:, in YAML, JSON or TOML. Editors validate and complete a
    model file with it; the file ships in the package as rnncalc/schema.json.

    \b
    Examples:
      rnncalc schema > rnncalc.schema.json
      # then, on the first line of a YAML model file (VS Code's YAML extension and others):
      # yaml-language-server: $schema=rnncalc.schema.json
    """
    from importlib.resources import files

    emit(files("rnncalc").joinpath("schema.json").read_text(encoding="utf-8").rstrip("\n"))
