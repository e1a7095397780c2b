"""rnncalc in Jupyter: :func:`show` displays tables and the stack diagram; ``%rnncalc`` runs a
command and displays what it prints.

Imports no IPython at module level: notebooks find ``_repr_html_`` and ``_repr_markdown_`` by
name, and :func:`load_ipython_extension` receives the shell it registers the magic with.
"""

from __future__ import annotations

import contextlib
import html
import io
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rnncalc.core.spec import Spec
from rnncalc.frameworks.inspection import Inspection

#: Inline style of the tables, so they read the same in Jupyter, VS Code and exported HTML.
_CELL = "padding:2px 8px;border-bottom:1px solid #ddd"


def _subject(subject: Any, fields: Mapping[str, Any]) -> Any:
    """A spec or model from a spec, a model, a mapping of spec fields, or a config file path;
    anything else is a model in memory (:func:`_live`)."""
    from rnncalc.core.model import Model, override
    from rnncalc.core.spec import spec_from_mapping

    if subject is None:
        return spec_from_mapping(fields)
    if isinstance(subject, Mapping):
        return spec_from_mapping({**subject, **fields})
    if isinstance(subject, (str, Path)):
        from rnncalc.io.config import BadEntry, read_sources

        entries = list(read_sources([str(subject)]))
        for entry in entries:
            if isinstance(entry, BadEntry):
                raise entry.error
        if len(entries) != 1:
            raise ValueError(f"{subject}: show() draws one model; the file holds {len(entries)}")
        model = override(entries[0].model, fields)  # type: ignore[union-attr]
        return model.layers[0] if model.is_flat else model
    if isinstance(subject, Spec):
        return subject.replace(**fields) if fields else subject
    if isinstance(subject, Model):
        return override(subject, fields)
    raise TypeError(f"show() takes a Spec, a Model, a mapping of spec fields or a file path, not {subject!r}")


def _live(obj: Any) -> tuple[Inspection, Spec | None]:
    """A model in memory, inspected (:mod:`rnncalc.inspect.live`; :class:`TypeError` naming the
    type of anything else), and the recurrent part to analyse: its layers' spec when they form
    one stack, else the first one's (the inspection lists every layer in every convention), or
    None when it has none."""
    from rnncalc.convert.plan import stack_spec
    from rnncalc.core.errors import ConversionError
    from rnncalc.core.model import LAYER_FIELDS
    from rnncalc.inspect.live import read_object

    inspection = read_object(obj).inspection
    if not inspection.recurrent:
        return inspection, None
    first = inspection.recurrent[0].spec
    try:
        spec = stack_spec(inspection.file, inspection.recurrent) if len(inspection.recurrent) > 1 else first
    except ConversionError:
        spec = first
    # What the object records is given, not a default the summary should list.
    return inspection, spec.replace(
        **{name: getattr(spec, name) for name in LAYER_FIELDS}, batch_first=first.batch_first
    )


class Shown:
    """What :func:`show` returns: the analysis, displayed as tables and a diagram.

    ``document`` is the plain JSON document (what :func:`rnncalc.analyze` returns). A model in
    memory is shown with its inspection (``inspection``, what :func:`rnncalc.inspect` returns)
    above its recurrent stack in every registered convention.
    """

    def __init__(
        self,
        subject: Spec | Any,
        unroll: int | None = None,
        names: tuple[str, ...] | None = None,
        inspection: Inspection | None = None,
    ) -> None:
        from rnncalc.analysis import analyze, analyze_model
        from rnncalc.frameworks import default_names

        self.subject = subject
        self.unroll = unroll
        self.inspection = inspection
        names = names or default_names()
        self.analysis: Any = None
        if subject is not None:
            self.analysis = (
                analyze(subject, names) if isinstance(subject, Spec) else analyze_model(subject, names)
            )
        self.document: dict[str, Any] = self.analysis.to_dict() if self.analysis else {"frameworks": {}}

    def svg(self) -> str:
        from rnncalc.diagram import DiagramFormat, draw

        return draw(self.subject, DiagramFormat.SVG, self.unroll) if self.subject is not None else ""

    def mermaid(self) -> str:
        from rnncalc.diagram import DiagramFormat, draw

        return draw(self.subject, DiagramFormat.MERMAID, self.unroll) if self.subject is not None else ""

    def text(self) -> str:
        """What ``rnncalc summary`` prints (after what ``rnncalc inspect`` prints, for a model
        in memory)."""
        return "\n\n".join(part for part in (self._inspected(False), self._summary("table")) if part)

    def _inspected(self, markdown: bool) -> str:
        from rnncalc.inspect.render import render_inspection

        return render_inspection(self.inspection, markdown) if self.inspection else ""

    def _summary(self, fmt: str) -> str:
        from rnncalc.summary.render import Format, render_analysis, render_model

        if self.analysis is None:
            return ""
        if isinstance(self.subject, Spec):
            return render_analysis(self.analysis, Format(fmt))
        return render_model(self.analysis, Format(fmt))

    def __repr__(self) -> str:
        return self.text()

    def _repr_markdown_(self) -> str:
        parts = [self._inspected(True), self._summary("markdown")]
        if self.subject is not None:
            parts.append(f"```mermaid\n{self.mermaid()}```\n")
        return "\n\n".join(part for part in parts if part)

    def _repr_html_(self) -> str:
        parts = ['<div class="rnncalc">']
        if self.inspection is not None:
            parts.append(f'<pre class="rnncalc-inspect">{html.escape(self._inspected(False))}</pre>')
        for key, report in self.document["frameworks"].items():
            parts.append(f"<h4>{html.escape(key)}: {html.escape(str(report['model']))}</h4>")
            if not report["supported"]:
                parts.append(f"<p>not expressible: {html.escape(str(report['reason']))}</p>")
                continue
            parts.append(_weights_table(report))
            parts.append(_outputs_table(report))
        parts.append(self.svg())
        parts.append("</div>")
        return "\n".join(parts)


def _table(headers: list[str], rows: list[list[str]], numeric: int) -> str:
    def cells(tag: str, values: list[str]) -> str:
        out = []
        for index, value in enumerate(values):
            align = "right" if index >= len(values) - numeric else "left"
            out.append(f'<{tag} style="{_CELL};text-align:{align}">{html.escape(value)}</{tag}>')
        return "".join(out)

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return f'<table style="border-collapse:collapse"><tr>{cells("th", headers)}</tr>{body}</table>'


def _weights_table(report: Mapping[str, Any]) -> str:
    from rnncalc.diagram.layout import count_text, dims_text, weight_count

    rows = []
    for layer in report["layers"]:
        for weight in layer["weights"]:
            shape = dims_text(weight["shape"])
            rows.append([layer["name"], weight["direction"], weight["name"], shape, weight_count(weight)])
        rows.append(
            ["", "", f"({layer['name']} total)", "", count_text(layer["params"], layer["params_formula"])]
        )
    rows.append(["total", "", "", "", count_text(report["total_params"], report["total_params_formula"])])
    return _table(["layer", "part", "weight", "shape", "params"], rows, numeric=1)


def _outputs_table(report: Mapping[str, Any]) -> str:
    from rnncalc.diagram.layout import dims_text

    rows = [[name, dims_text(shape)] for name, shape in report["outputs"].items()]
    return _table(["returns", "shape"], rows, numeric=0)


def show(subject: Any = None, /, *, unroll: int | None = None, **fields: Any) -> Shown:
    """Tables and the diagram of a spec, a model, a mapping of spec fields or a config file.

    ``show(cell="rnn", hidden_size=8, bidirectional=True)``; ``unroll=4`` draws the unrolled
    view instead of the stack. A model in memory (a PyTorch ``nn.Module``, a Keras model or
    layer, a Flax ``nnx.Module``, an ``onnx.ModelProto``) is shown as :func:`rnncalc.inspect`
    reads it, with its recurrent stack in every registered convention.
    """
    from rnncalc.core.model import Model
    from rnncalc.frameworks import names

    if subject is None or isinstance(subject, (Mapping, str, Path, Spec, Model)):
        return Shown(_subject(subject, fields), unroll)
    inspection, part = _live(subject)
    if part is not None and fields:
        part = _subject(part, fields)
    return Shown(part, unroll, names(), inspection)


class CommandOutput:
    """What a ``%rnncalc`` line printed, displayed as the CLI shows it (SVG drawn inline)."""

    def __init__(self, stdout: str, stderr: str, exit_code: int) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.exit_code = exit_code

    def __repr__(self) -> str:
        return self.stdout + self.stderr

    def _repr_html_(self) -> str:
        if self.stdout.lstrip().startswith("<svg"):
            body = self.stdout
        else:
            body = f'<pre class="rnncalc">{html.escape(self.stdout)}</pre>'
        if self.stderr:
            body += f'<pre class="rnncalc-stderr" style="color:#c53030">{html.escape(self.stderr)}</pre>'
        return body


def run_command(line: str, namespace: Mapping[str, Any] | None = None) -> CommandOutput:
    """Run ``rnncalc <line>`` in this process and keep what it prints; where ``inspect`` and
    ``convert`` take a model file, a name in ``namespace`` holding a model in memory is read as
    that model (:data:`rnncalc.inspect.live.LENT`)."""
    from rnncalc.cli import cli
    from rnncalc.inspect.live import LENT

    stdout, stderr = io.StringIO(), io.StringIO()
    lent = LENT.set(namespace or {})
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = cli.main(shlex.split(line), prog_name="rnncalc", standalone_mode=False)
        except SystemExit as exit_:  # commands that report failure with exit status 1
            code = exit_.code if isinstance(exit_.code, int) else 1
        finally:
            LENT.reset(lent)
    return CommandOutput(stdout.getvalue(), stderr.getvalue(), int(code or 0))


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext rnncalc`` registers the ``%rnncalc`` line magic: ``%rnncalc summary --cell
    rnn -H 8 --bi``, ``%rnncalc inspect model`` (a variable of the notebook)."""

    def rnncalc_magic(line: str) -> CommandOutput:
        return run_command(line, ipython.user_ns)

    ipython.register_magic_function(rnncalc_magic, magic_kind="line", magic_name="rnncalc")
