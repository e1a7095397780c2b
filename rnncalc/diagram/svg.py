"""Draw a :class:`~rnncalc.diagram.layout.Diagram` as a self-contained SVG document.

No scripts, no stylesheets, no external fonts or files: every style is an attribute, the font
is a fixed stack of common families, and ids are fixed names, so the same diagram always gives
the same bytes (golden files compare them) and renders the same in browsers and cairosvg.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from rnncalc.diagram.layout import (
    FONT_SIZE,
    LABEL_SIZE,
    LINE_HEIGHT,
    PADDING,
    Diagram,
    Edge,
    Frame,
    Node,
    Panel,
    column_starts,
)

FONT_FAMILY = "DejaVu Sans, Arial, sans-serif"

#: Fill and stroke of each node kind.
NODE_COLOURS: dict[str, tuple[str, str]] = {
    "tensor": ("#eaf2fb", "#3b6ea5"),
    "layer": ("#fff6e5", "#b7791f"),
    "direction": ("#fff6e5", "#b7791f"),
    "merge": ("#f2f2f2", "#666666"),
    "cell": ("#e8f6ee", "#2f855a"),
    "state": ("#f2f2f2", "#666666"),
    "weights": ("#fbeff6", "#97266d"),
    "note": ("#fff0f0", "#c53030"),
}
#: Stroke of each edge kind; the cell state path and the shared weights stand apart.
EDGE_COLOURS: dict[str, str] = {"data": "#333333", "state": "#2f855a", "cell": "#c53030", "shared": "#97266d"}


def _number(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _text(x: float, y: float, text: str, *extra: str) -> str:
    attributes = " ".join((f'x="{_number(x)}"', f'y="{_number(y)}"', *extra))
    return f"<text {attributes}>{escape(text)}</text>"


def _markers() -> list[str]:
    lines = ["<defs>"]
    for kind, colour in EDGE_COLOURS.items():
        lines.append(
            f'<marker id="rnncalc-arrow-{kind}" viewBox="0 0 10 10" refX="9" refY="5" '
            f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
        )
    lines.append("</defs>")
    return lines


def _node(node: Node) -> list[str]:
    fill, stroke = NODE_COLOURS.get(node.kind, NODE_COLOURS["state"])
    radius = 12 if node.kind == "tensor" else 4
    lines = [
        f'<rect x="{_number(node.x)}" y="{_number(node.y)}" width="{_number(node.w)}" '
        f'height="{_number(node.h)}" rx="{radius}" fill="{fill}" stroke="{stroke}" stroke-width="1.2"/>'
    ]
    baseline = node.y + PADDING + FONT_SIZE - 1
    centred = not node.rows
    if centred:
        lines.append(
            _text(node.x + node.w / 2, baseline, node.title, 'text-anchor="middle"', 'font-weight="bold"')
        )
    else:
        lines.append(_text(node.x + PADDING, baseline, node.title, 'font-weight="bold"'))
    if node.rows:
        starts = column_starts(node)
        for row in node.rows:
            baseline += LINE_HEIGHT
            for column, cell in enumerate(row):
                if column == len(row) - 1 and len(row) > 1:
                    lines.append(_text(node.x + node.w - PADDING, baseline, cell, 'text-anchor="end"'))
                else:
                    lines.append(_text(starts[column], baseline, cell))
    if node.note:
        baseline += LINE_HEIGHT
        if centred:
            lines.append(_text(node.x + node.w / 2, baseline, node.note, 'text-anchor="middle"'))
        else:
            lines.append(_text(node.x + PADDING, baseline, node.note, 'font-style="italic"'))
    return lines


def _edge(edge: Edge) -> list[str]:
    colour = EDGE_COLOURS.get(edge.kind, EDGE_COLOURS["data"])
    points = " ".join(f"{_number(x)},{_number(y)}" for x, y in edge.points)
    style = f'fill="none" stroke="{colour}" stroke-width="1.3"'
    if edge.kind == "shared":
        style += ' stroke-dasharray="4 3"'
    lines = [f'<polyline points="{points}" {style} marker-end="url(#rnncalc-arrow-{edge.kind})"/>']
    if edge.label:
        x, y = edge.label_at
        lines.append(
            _text(
                x,
                y,
                edge.label,
                f'font-size="{LABEL_SIZE}"',
                f'fill="{colour}"',
                f'text-anchor="{edge.label_anchor}"',
            )
        )
    return lines


def _frame(frame: Frame) -> list[str]:
    return [
        f'<rect x="{_number(frame.x)}" y="{_number(frame.y)}" width="{_number(frame.w)}" '
        f'height="{_number(frame.h)}" rx="6" fill="none" stroke="#999999" stroke-dasharray="5 4"/>',
        _text(
            frame.x + PADDING, frame.y + LINE_HEIGHT - 3, frame.title, 'font-style="italic"', 'fill="#555555"'
        ),
    ]


def _panel(panel: Panel) -> list[str]:
    lines = [
        f"<g id={quoteattr('panel-' + panel.id)}>",
        f'<rect x="{_number(panel.x - PADDING)}" y="{_number(panel.y - PADDING)}" '
        f'width="{_number(panel.w + 2 * PADDING)}" height="{_number(panel.h + 2 * PADDING)}" rx="8" '
        f'fill="#fcfcfc" stroke="#d0d0d0"/>',
        _text(
            panel.x,
            panel.y + FONT_SIZE + 2,
            panel.title,
            f'font-size="{FONT_SIZE + 2}"',
            'font-weight="bold"',
        ),
        _text(panel.x, panel.y + LINE_HEIGHT + FONT_SIZE + 4, panel.subtitle, 'fill="#555555"'),
    ]
    for frame in panel.frames:
        lines += _frame(frame)
    for edge in panel.edges:
        lines += _edge(edge)
    for node in panel.nodes:
        lines += _node(node)
    lines.append("</g>")
    return lines


def to_svg(diagram: Diagram) -> str:
    """The diagram as one SVG document (UTF-8 text, ends with a newline)."""
    width, height = _number(diagram.width), _number(diagram.height)
    lines = [
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="{FONT_FAMILY}" font-size="{FONT_SIZE}" fill="#1a1a1a">',
        f"<title>{escape(diagram.title)}</title>",
        *_markers(),
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        _text(16, 16 + FONT_SIZE + 2, diagram.title, f'font-size="{FONT_SIZE + 4}"', 'font-weight="bold"'),
    ]
    for panel in diagram.panels:
        lines += _panel(panel)
    lines.append("</svg>")
    return "\n".join(lines) + "\n"
