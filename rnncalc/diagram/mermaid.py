"""Draw a :class:`~rnncalc.diagram.layout.Diagram` as a Mermaid flowchart.

GitHub renders a ```` ```mermaid ```` block in Markdown, so a pull request can show the
architecture it changes. Mermaid places the boxes itself: only the graph (nodes, arrows,
labels, groups) is taken from the layout, not its coordinates.
"""

from __future__ import annotations

import re

from rnncalc.diagram.layout import Diagram, Edge, Node, Panel

#: Mermaid's node shapes: tensors are stadiums, merges hexagons, shared weights cylinders.
SHAPES: dict[str, tuple[str, str]] = {
    "tensor": ('(["', '"])'),
    "state": ('(["', '"])'),
    "merge": ('{{"', '"}}'),
    "weights": ('[("', '")]'),
}
#: classDef lines, one per node kind (the same colours as the SVG).
CLASSES: dict[str, str] = {
    "tensor": "fill:#eaf2fb,stroke:#3b6ea5",
    "layer": "fill:#fff6e5,stroke:#b7791f",
    "direction": "fill:#fff6e5,stroke:#b7791f",
    "merge": "fill:#f2f2f2,stroke:#666666",
    "cell": "fill:#e8f6ee,stroke:#2f855a",
    "state": "fill:#f2f2f2,stroke:#666666",
    "weights": "fill:#fbeff6,stroke:#97266d",
    "note": "fill:#fff0f0,stroke:#c53030",
}


def identifier(text: str) -> str:
    """A Mermaid node id: letters, digits and underscores only."""
    return re.sub(r"\W", "_", text, flags=re.ASCII)


def quoted(text: str) -> str:
    """Text inside a quoted label: Mermaid's entity codes for quotes and angle brackets."""
    return text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def _label(node: Node) -> str:
    lines = [node.title, *(_row_text(row) for row in node.rows)]
    if node.note:
        lines.append(node.note)
    return "<br/>".join(quoted(line) for line in lines)


def _row_text(row: tuple[str, ...]) -> str:
    """``weight_ih_l0 (32, 5): 160``: name and shape, then the count."""
    if len(row) == 3:
        return f"{row[0]} {row[1]}: {row[2]}"
    return " ".join(row)


def _node(node: Node) -> str:
    opening, closing = SHAPES.get(node.kind, ('["', '"]'))
    return f"{identifier(node.id)}{opening}{_label(node)}{closing}"


def _edge(edge: Edge) -> str:
    source, target = identifier(edge.source), identifier(edge.target)
    if edge.kind == "shared":
        return f"{source} -.- {target}"
    arrow = "==>" if edge.kind == "cell" else "-->"
    return f'{source} {arrow}|"{quoted(edge.label)}"| {target}'


def _panel(panel: Panel) -> list[str]:
    lines = [
        f'  subgraph {identifier("panel_" + panel.id)}["{quoted(panel.title)} · {quoted(panel.subtitle)}"]',
        f"    direction {panel.flow}",
    ]
    framed = {member for frame in panel.frames for member in frame.members}
    nodes = {node.id: node for node in panel.nodes}
    for frame in panel.frames:
        lines.append(f'    subgraph {identifier(frame.id)}["{quoted(frame.title)}"]')
        lines += [f"      {_node(nodes[member])}" for member in frame.members]
        lines.append("    end")
    lines += [f"    {_node(node)}" for node in panel.nodes if node.id not in framed]
    lines += [f"    {_edge(edge)}" for edge in panel.edges]
    lines.append("  end")
    return lines


def to_mermaid(diagram: Diagram) -> str:
    """The diagram as Mermaid flowchart source (ends with a newline)."""
    lines = [f"%% {' '.join(diagram.title.split())}", "flowchart TB"]
    for panel in diagram.panels:
        lines += _panel(panel)
    kinds: dict[str, list[str]] = {}
    for panel in diagram.panels:
        for node in panel.nodes:
            kinds.setdefault(node.kind, []).append(identifier(node.id))
    for kind in sorted(kinds):
        lines.append(f"  classDef rnncalc_{kind} {CLASSES.get(kind, CLASSES['state'])}")
        lines.append(f"  class {','.join(kinds[kind])} rnncalc_{kind}")
    return "\n".join(lines) + "\n"
