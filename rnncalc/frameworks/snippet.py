"""Helpers the framework modules share to write their runnable scripts (``rnncalc code``).

Each script prints the model's weights (name and shape), runs it once on zeros, prints the
shape of everything it returns, and ends with a line holding only the parameter count, so a
test (or a learner) can compare it with the calculator. A framework that cannot express the
spec gets a comment saying why instead of code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rnncalc.core.spec import Spec, describe_spec
from rnncalc.core.text import printable

if TYPE_CHECKING:
    from rnncalc.core.model import Model

#: The line length of ruff's and black's defaults: the scripts come out already formatted.
LINE_LENGTH = 88


def header(title: str, spec: Spec) -> str:
    """The script's docstring: framework title and the spec in one line."""
    return f'"""{title}: {describe_spec(spec)}. Written by rnncalc."""\n\n'


def unsupported_comment(title: str, spec: Spec, reason: str) -> str:
    """What a framework that cannot build ``spec`` gets instead of code."""
    return f"# {title} cannot build this model ({describe_spec(spec)}):\n# {reason}.\n"


def _model_title(model: Model, kinds: str) -> str:
    """The model's name (from a file: made one line, no quote or backslash able to end the
    docstring or comment it is written in) and the chain of its parts."""
    if not model.name:
        return kinds
    name = printable(model.name).replace("\\", "\\\\").replace('"', '\\"')
    return f"{name}, {kinds}"


def model_header(title: str, model: Model, kinds: str) -> str:
    """A whole model's script docstring: framework title, the model's name and chain of parts."""
    return f'"""{title}: {_model_title(model, kinds)}. Written by rnncalc."""\n\n'


def model_unsupported_comment(title: str, model: Model, kinds: str, reason: str) -> str:
    """What a framework that cannot build the whole ``model`` gets instead of code."""
    return f"# {title} cannot build this model ({_model_title(model, kinds)}):\n# {reason}.\n"


def quote(text: str) -> str:
    """A Python string literal in double quotes (names here never hold quotes or backslashes)."""
    return f'"{text}"'


def call(name: str, args: list[str], before: str = "", after: str = "", indent: str = "") -> str:
    """``before + name(a, b) + after`` on one line, or one argument per line (with the trailing
    comma that keeps formatters from joining them) when that is too long; every line starts
    with ``indent``."""
    line = f"{indent}{before}{name}({', '.join(args)}){after}"
    if len(line) <= LINE_LENGTH:
        return line
    arguments = "".join(f"{indent}    {arg},\n" for arg in args)
    return f"{indent}{before}{name}(\n{arguments}{indent}){after}"
