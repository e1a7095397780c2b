"""Boxes and arrows of a diagram, computed from analysis documents (no drawing here).

Two views, one panel per framework the document holds (never a framework by name):

* the **stack view**: the input, every layer (a box per direction of a bidirectional layer,
  each with its weights' shapes and counts), the merge, every returned tensor, and the
  shape on every arrow;
* the **unrolled view**: each recurrent layer and direction as a row of cells, one per time
  step, ``x_t`` and ``h_{t-1}`` in, ``h_t`` out, the cell state path for cells that have one,
  and the weights every step shares.

Positions are in SVG user units (pixels at 100 %); text widths are estimated from the font
size, so the same documents always give the same layout.
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from rnncalc.core.symbolic import INPUT, format_shape

FONT_SIZE = 12
LABEL_SIZE = 11
LINE_HEIGHT = 16
PADDING = 8
#: Average advance of DejaVu Sans / Arial glyphs as a fraction of the font size, rounded up so
#: estimated boxes hold the real text.
CHAR_WIDTH = 0.62
COLUMN_GAP = 12
NODE_GAP = 20
LEVEL_GAP = 46
PANEL_GAP = 32
MARGIN = 16
#: The most time steps the unrolled view draws (beyond it a row no longer fits a screen).
MAX_STEPS = 8

RECURRENT_ROLE = "recurrent weights"
INPUT_ROLE = "input weights"
EMBEDDING_ROLE = "embedding"

Point = tuple[float, float]


class Node(NamedTuple):
    """A box: a title, an optional table (weight name, shape, count) and a closing note."""

    id: str
    kind: str  # tensor | layer | direction | merge | cell | state | weights | note
    title: str
    rows: tuple[tuple[str, ...], ...] = ()
    note: str = ""
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0


class Edge(NamedTuple):
    """An arrow from one node to another along ``points``, its label written at ``label_at``."""

    source: str
    target: str
    label: str
    kind: str  # data | state | cell | shared
    points: tuple[Point, ...]
    label_at: Point
    label_anchor: str = "start"  # SVG text-anchor: start | middle


class Frame(NamedTuple):
    """A dashed box around the nodes of one bidirectional layer, with its title."""

    id: str
    title: str
    members: tuple[str, ...]
    x: float
    y: float
    w: float
    h: float


class Panel(NamedTuple):
    """One framework's picture."""

    id: str  # the framework's key in the document
    title: str
    subtitle: str
    flow: str  # TB (top to bottom) or LR, for renderers that lay out themselves
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    frames: tuple[Frame, ...]
    x: float
    y: float
    w: float
    h: float


class Diagram(NamedTuple):
    view: str  # stack | unrolled
    title: str
    panels: tuple[Panel, ...]
    width: float
    height: float


def text_width(text: str, size: float = FONT_SIZE) -> float:
    return round(len(text) * size * CHAR_WIDTH, 1)


def sized(node: Node) -> Node:
    """``node`` with the width and height its text needs."""
    widths = [text_width(node.title) + 1.0, text_width(node.note)]
    if node.rows:
        widths.append(sum(_column_widths(node.rows)) + COLUMN_GAP * (len(node.rows[0]) - 1))
    lines = 1 + len(node.rows) + (1 if node.note else 0)
    return node._replace(w=max(widths) + 2 * PADDING, h=lines * LINE_HEIGHT + 2 * PADDING - 2)


def _column_widths(rows: Sequence[Sequence[str]]) -> list[float]:
    return [max(text_width(row[column]) for row in rows) for column in range(len(rows[0]))]


def column_starts(node: Node) -> list[float]:
    """x of each table column's left edge inside ``node`` (the last column is right-aligned)."""
    starts, x = [], node.x + PADDING
    for width in _column_widths(node.rows):
        starts.append(x)
        x += width + COLUMN_GAP
    return starts


# --- reading the document --------------------------------------------------------------------


def dims_text(shape: Sequence[Any]) -> str:
    return format_shape(tuple(shape))


def count_text(count: int | None, formula: Mapping[str, Any] | None) -> str:
    if count is not None:
        return f"{count:,}"
    return str(formula["text"]) if formula else "?"


def _roles(layer: Mapping[str, Any]) -> set[str]:
    return {weight["role"] for weight in layer["weights"]}


def _directions(layer: Mapping[str, Any]) -> list[str]:
    return list(dict.fromkeys(weight["direction"] for weight in layer["weights"]))


def is_recurrent(layer: Mapping[str, Any]) -> bool:
    return RECURRENT_ROLE in _roles(layer)


def state_size(layer: Mapping[str, Any]) -> int:
    """Size of one direction's hidden state: the smaller side of its recurrent weights.

    The recurrent weights map the state (size P) to every gate (gates × H, with P ≤ H when an
    LSTM projects), whichever orientation a framework stores them in.
    """
    shape = next(w["shape"] for w in layer["weights"] if w["role"] == RECURRENT_ROLE)
    return int(min(shape))


def lstm_cell_size(layer: Mapping[str, Any]) -> int:
    """Size of an LSTM's cell state: its recurrent weights' gate side over its four gates
    (the hidden size, which a projection leaves unchanged)."""
    shape = next(w["shape"] for w in layer["weights"] if w["role"] == RECURRENT_ROLE)
    return int(max(shape)) // 4


def cell_name(layer: Mapping[str, Any]) -> str:
    """LSTM, GRU or RNN, read from the layer's type (``Bidirectional(SimpleRNN)`` → RNN)."""
    kind = str(layer["type"]).upper()
    return next((name for name in ("LSTM", "GRU", "RNN") if name in kind), "recurrent")


def _spec_fields(document: Mapping[str, Any]) -> dict[str, Any]:
    """Batch, unbatched, input features and merge modes, from a flat or a model document."""
    if "spec" in document:
        spec = document["spec"]
        modes = {spec["merge_mode"]} if spec["bidirectional"] else set()
        return {
            "batch": spec["batch_size"],
            "unbatched": spec["unbatched"],
            "features": spec["input_size"],
            "merge_modes": modes,
            "seq_len": spec["seq_len"],
        }
    model = document["model"]
    return {
        "batch": model["batch_size"],
        "unbatched": False,
        "features": model["layers"][0]["input_size"],
        "merge_modes": {layer["merge_mode"] for layer in model["layers"] if layer["bidirectional"]},
        "seq_len": model["seq_len"],
    }


def input_shape(sequences: Mapping[str, Any], key: str, features: int | None) -> str:
    """The input tensor's shape in framework ``key``'s layout, from the document whose layers
    return sequences: token ids before an embedding, else the first recurrent layer's output
    axes with the features in place of its last one."""
    report = sequences["frameworks"].get(key)
    if not report or not report["supported"] or not report["layers"]:
        return "?"
    if report.get("input_shape") is not None:  # the convention states it (flat specs)
        return dims_text(report["input_shape"])
    first = report["layers"][0]
    axes = list(first["output_shape"][:-1])
    if EMBEDDING_ROLE in _roles(first):
        return dims_text(axes)
    return dims_text([*axes, features if features is not None else INPUT])


def merge_label(layer: Mapping[str, Any], merge_modes: set[str]) -> str:
    """``concat`` when the output holds both directions side by side, else the merge mode."""
    features = layer["output_shape"][-1]
    if features == 2 * state_size(layer):
        return "concat"
    others = sorted(mode for mode in merge_modes if mode != "concat")
    return others[0] if len(others) == 1 else "merge"


def _direction_shape(layer: Mapping[str, Any]) -> str:
    """One direction's output: the layer's output with one direction's features."""
    return dims_text([*layer["output_shape"][:-1], state_size(layer)])


def _weight_rows(weights: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, ...], ...]:
    """(name, shape, count) per weight; a count in ``I`` when the shape holds the input size."""
    return tuple((w["name"], dims_text(w["shape"]), weight_count(w)) for w in weights)


def weight_count(weight: Mapping[str, Any]) -> str:
    if weight["params"] is not None:
        return f"{weight['params']:,}"
    return f"{_known_product(weight['shape'])}*{INPUT}"


def _panel_heading(key: str, report: Mapping[str, Any]) -> tuple[str, str]:
    title = f"{key}: {report['model']}"
    if not report["supported"]:
        return title, "not expressible"
    return title, f"{count_text(report['total_params'], report['total_params_formula'])} parameters"


# --- the stack view ---------------------------------------------------------------------------


class _Builder:
    """Nodes placed level by level (top to bottom), then arrows routed between them."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.levels: list[list[Node]] = []
        self.framed: set[int] = set()  # indices of levels drawn inside a frame (room for its title)
        self.links: list[tuple[str, str, str, str]] = []  # source, target, label, kind
        self.groups: list[tuple[str, str, tuple[str, ...]]] = []  # id, title, members

    def level(self, *nodes: Node, frame: str = "") -> list[str]:
        """Add a row of nodes; with ``frame`` (a title) a dashed box surrounds them."""
        placed = [sized(node._replace(id=f"{self.prefix}_{node.id}")) for node in nodes]
        if frame:
            self.framed.add(len(self.levels))
            self.groups.append((f"{self.prefix}_frame{len(self.levels)}", frame, tuple(n.id for n in placed)))
        self.levels.append(placed)
        return [node.id for node in placed]

    def link(self, source: str, target: str, label: str, kind: str = "data") -> None:
        self.links.append((source, target, label, kind))

    def place(self, top: float) -> tuple[list[Node], float, float]:
        """Centre every level in the widest one; returns the nodes, width and height."""
        widths = [sum(n.w for n in level) + NODE_GAP * (len(level) - 1) for level in self.levels]
        width = max(widths) + 2 * PADDING  # frames reach PADDING beyond their nodes
        nodes, y = [], top
        for index, (level, level_width) in enumerate(zip(self.levels, widths, strict=True)):
            if index in self.framed:
                y += LINE_HEIGHT + PADDING
            x = (width - level_width) / 2
            height = max(n.h for n in level)
            for node in level:
                nodes.append(node._replace(x=round(x, 1), y=round(y, 1)))
                x += node.w + NODE_GAP
            y += height + LEVEL_GAP
        return nodes, width, y - LEVEL_GAP - top


def _route(source: Node, target: Node, fan_in: bool, fan_out: bool) -> tuple[tuple[Point, ...], Point]:
    """A vertical arrow, bent once sideways when the boxes are not aligned.

    Fan-out arrows bend just below their source and carry the label on their own last leg;
    fan-in arrows bend just above their target and carry it on their own first leg.
    """
    sx, sy = round(source.x + source.w / 2, 1), source.y + source.h
    tx, ty = round(target.x + target.w / 2, 1), target.y
    if abs(sx - tx) < 0.5:
        return ((sx, sy), (tx, ty)), (sx + 6, round(sy + 24, 1))
    if fan_in and not fan_out:
        bend = ty - 10
        return ((sx, sy), (sx, bend), (tx, bend), (tx, ty)), (sx + 6, round(sy + 20, 1))
    bend = sy + 10
    return ((sx, sy), (sx, bend), (tx, bend), (tx, ty)), (tx + 6, round(bend + 14, 1))


def _finish(
    builder: _Builder,
    key: str,
    heading: tuple[str, str],
    flow: str,
    nodes: list[Node],
    width: float,
    height: float,
) -> Panel:
    by_id = {node.id: node for node in nodes}
    sources = [link[0] for link in builder.links]
    targets = [link[1] for link in builder.links]
    edges = []
    for source, target, label, kind in builder.links:
        points, label_at = _route(
            by_id[source], by_id[target], targets.count(target) > 1, sources.count(source) > 1
        )
        edges.append(Edge(source, target, label, kind, points, label_at))
    frames = []
    for frame_id, title, members in builder.groups:
        inside = [by_id[member] for member in members]
        left = min(n.x for n in inside) - PADDING
        top = min(n.y for n in inside) - LINE_HEIGHT - PADDING
        right = max(n.x + n.w for n in inside) + PADDING
        bottom = max(n.y + n.h for n in inside) + PADDING
        frames.append(Frame(frame_id, title, members, left, top, right - left, bottom - top))
    title_width = max(text_width(heading[0], FONT_SIZE + 2), text_width(heading[1]))
    frame_width = max((text_width(f.title) + 2 * PADDING for f in frames), default=0.0)
    width = max(width, title_width, frame_width)
    return Panel(key, *heading, flow, tuple(nodes), tuple(edges), tuple(frames), 0.0, 0.0, width, height)


def stack_panel(key: str, main: Mapping[str, Any], sequences: Mapping[str, Any]) -> Panel:
    """Framework ``key``'s stack: input, layers, merges and returned tensors."""
    report = main["frameworks"][key]
    heading = _panel_heading(key, report)
    builder = _Builder(key)
    fields = _spec_fields(main)
    if not report["supported"]:
        text = textwrap.fill(str(report["reason"]), width=56).splitlines()
        builder.level(Node("reason", "note", text[0], rows=tuple((line,) for line in text[1:])))
        nodes, width, height = builder.place(0.0)
        return _finish(builder, key, heading, "TB", nodes, width, height)
    shape = input_shape(sequences, key, fields["features"])
    (previous,) = builder.level(Node("input", "tensor", "input", note=shape))
    for index, layer in enumerate(report["layers"]):
        params = count_text(layer["params"], layer["params_formula"])
        directions = _directions(layer)
        output = dims_text(layer["output_shape"])
        if is_recurrent(layer) and len(directions) > 1:
            boxes = [
                Node(
                    f"l{index}_{direction}",
                    "direction",
                    direction,
                    _weight_rows([w for w in layer["weights"] if w["direction"] == direction]),
                    f"{_direction_total(layer, direction)} params",
                )
                for direction in directions
            ]
            parts = builder.level(*boxes, frame=f"{layer['name']} · {layer['type']} · {params} params")
            (merge,) = builder.level(
                Node(f"l{index}_merge", "merge", merge_label(layer, fields["merge_modes"]))
            )
            for part in parts:
                builder.link(previous, part, shape)
                builder.link(part, merge, _direction_shape(layer))
            previous = merge
        else:
            (node,) = builder.level(
                Node(
                    f"l{index}",
                    "layer",
                    f"{layer['name']} · {layer['type']}",
                    _weight_rows(layer["weights"]),
                    f"{params} params",
                )
            )
            builder.link(previous, node, shape)
            previous = node
        shape = output
    outputs = builder.level(
        *(
            Node(f"out_{name}", "tensor", name, note=dims_text(dims))
            for name, dims in report["outputs"].items()
        )
    )
    for target, dims in zip(outputs, report["outputs"].values(), strict=True):
        builder.link(previous, target, dims_text(dims))
    nodes, width, height = builder.place(0.0)
    return _finish(builder, key, heading, "TB", nodes, width, height)


def _direction_total(layer: Mapping[str, Any], direction: str) -> str:
    weights = [w for w in layer["weights"] if w["direction"] == direction]
    if all(w["params"] is not None for w in weights):
        return f"{sum(w['params'] for w in weights):,}"
    per_input = sum(_known_product(w["shape"]) for w in weights if w["params"] is None)
    constant = sum(w["params"] for w in weights if w["params"] is not None)
    return f"{per_input}*{INPUT} + {constant}" if constant else f"{per_input}*{INPUT}"


def _known_product(shape: Sequence[Any]) -> int:
    product = 1
    for dim in shape:
        if isinstance(dim, int):
            product *= dim
    return product


# --- the unrolled view ------------------------------------------------------------------------


def stages(layer: Mapping[str, Any]) -> list[dict[str, list[Mapping[str, Any]]]]:
    """The layer's weights per stacked layer, then per direction.

    A report may hold a whole multi-layer block (one module with ``num_layers`` layers); each
    stacked layer's weights start with its input weights, in every framework's order.
    """
    result: list[dict[str, list[Mapping[str, Any]]]] = []
    for direction in _directions(layer):
        depth = -1
        for weight in layer["weights"]:
            if weight["direction"] != direction:
                continue
            if weight["role"] == INPUT_ROLE or depth < 0:
                depth += 1
                if depth == len(result):
                    result.append({})
                result[depth][direction] = []
            result[depth][direction].append(weight)
    return result


def _step_shape(batch: int | None, unbatched: bool, features: Any) -> str:
    return dims_text([features]) if unbatched else dims_text([batch, features])


def unrolled_panel(key: str, main: Mapping[str, Any], steps: int) -> Panel:
    """Framework ``key``'s recurrent layers unrolled over ``steps`` time steps, one row per
    layer and direction; every cell of a row uses the same weights."""
    report = main["frameworks"][key]
    heading = _panel_heading(key, report)
    fields = _spec_fields(main)
    if not report["supported"]:
        return stack_panel(key, main, main)
    nodes: list[Node] = []
    edges: list[Edge] = []
    frames: list[Frame] = []
    top, width = 0.0, 0.0
    features: Any = fields["features"] if fields["features"] is not None else INPUT
    source_name = "x"
    h_shape_last = ""
    left = NODE_GAP * 2 + max(
        sized(Node("", "weights", "shared weights", _weight_rows(weights))).w
        for layer in report["layers"]
        if is_recurrent(layer)
        for stage in stages(layer)
        for weights in stage.values()
    )
    for index, layer in enumerate(report["layers"]):
        if not is_recurrent(layer):
            features = layer["output_shape"][-1]
            source_name = str(layer["name"])
            continue
        size = state_size(layer)
        h_shape = h_shape_last = _step_shape(fields["batch"], fields["unbatched"], size)
        states = {"h": h_shape}
        if cell_name(layer) == "LSTM":
            states["c"] = _step_shape(fields["batch"], fields["unbatched"], lstm_cell_size(layer))
        layer_stages = stages(layer)
        for depth, stage in enumerate(layer_stages):
            x_shape = _step_shape(fields["batch"], fields["unbatched"], features)
            name = f"{layer['name']} · {layer['type']}"
            if len(layer_stages) > 1:
                name += f" · layer {depth}"
            for direction, weights in stage.items():
                row_id = f"{key}_l{index}_{depth}_{direction}"
                reads = f"t = {steps} → 1" if direction == "backward" else f"t = 1 → {steps}"
                source = "x_t" if source_name == "x" else f"in_t = output of {source_name} at t"
                title = (
                    f"{name} · {direction} — reads {reads}; input {source}; the same weights at every step"
                )
                row_nodes, row_edges, row_width, row_height = _unrolled_row(
                    row_id,
                    weights,
                    steps,
                    direction == "backward",
                    cell_name(layer),
                    x_shape,
                    states,
                    "x" if source_name == "x" else "in",
                    (left, top + 2 * LINE_HEIGHT),
                )
                members = tuple(n.id for n in row_nodes)
                frames.append(Frame(row_id, title, members, 0.0, top, 0.0, row_height + 2 * LINE_HEIGHT))
                nodes += row_nodes
                edges += row_edges
                width = max(width, row_width, text_width(title))
                top += row_height + 2 * LINE_HEIGHT + LEVEL_GAP
            features = layer["output_shape"][-1]  # every stacked layer of a block has the block's width
            source_name = f"{layer['name']} layer {depth}" if len(layer_stages) > 1 else str(layer["name"])
    width += text_width(h_shape_last, LABEL_SIZE) if nodes else 0.0  # the last h_t label
    frames = [frame._replace(w=width) for frame in frames]
    return Panel(
        key,
        *heading,
        "LR",
        tuple(nodes),
        tuple(edges),
        tuple(frames),
        0.0,
        0.0,
        width,
        max(top - LEVEL_GAP, 0.0),
    )


def _unrolled_row(
    row_id: str,
    weights: Sequence[Mapping[str, Any]],
    steps: int,
    backward: bool,
    kind: str,
    x_shape: str,
    states: Mapping[str, str],
    input_name: str,
    corner: Point,
) -> tuple[list[Node], list[Edge], float, float]:
    """Weights box, initial state, ``steps`` cells with inputs below and outputs above.

    ``corner``: where the cells' columns start (the same in every row, so steps line up) and
    the row's top. ``states``: each state carried between steps (``h``, and ``c`` for an LSTM)
    and its shape at one step.
    """
    start, top = corner
    h_shape = states["h"]
    shared = sized(Node(f"{row_id}_w", "weights", "shared weights", _weight_rows(weights)))
    names = ", ".join(f"{name}_0" for name in states)
    shapes = list(dict.fromkeys(states.values()))
    initial = sized(Node(f"{row_id}_h0", "state", names, note=", ".join(shapes)))
    kind_name = f"{kind} cell"
    cell_width = max(text_width(kind_name), text_width(f"t = {steps}")) + 2 * PADDING + 24
    gap = max(text_width(f"{name}_{steps} {shape}", LABEL_SIZE) for name, shape in states.items()) + 28
    out_h = LINE_HEIGHT + 2 * PADDING
    cell_h = 3 * LINE_HEIGHT + 2 * PADDING
    cells_top = top + out_h + LEVEL_GAP
    shared = shared._replace(x=0.0, y=round(cells_top, 1))
    bus_y = round(max(cells_top + cell_h, shared.y + shared.h) + 12, 1)
    in_top = bus_y + LEVEL_GAP
    columns = [start + initial.w + gap + t * (cell_width + gap) for t in range(steps)]
    if backward:
        initial = initial._replace(x=round(columns[-1] + cell_width + gap, 1))
    else:
        initial = initial._replace(x=round(start, 1))
    initial = initial._replace(y=round(cells_top + (cell_h - initial.h) / 2, 1))
    nodes = [shared, initial]
    edges: list[Edge] = []
    cells = []
    for t, left in enumerate(columns, start=1):
        cell = sized(Node(f"{row_id}_c{t}", "cell", kind_name, note=f"t = {t}"))
        cell = cell._replace(x=round(left, 1), y=round(cells_top, 1), w=cell_width, h=cell_h)
        out = sized(Node(f"{row_id}_h{t}", "tensor", f"h_{t}"))
        out = out._replace(x=round(left + (cell_width - out.w) / 2, 1), y=round(top, 1))
        inp = sized(Node(f"{row_id}_x{t}", "tensor", f"{input_name}_{t}"))
        inp = inp._replace(x=round(left + (cell_width - inp.w) / 2, 1), y=round(in_top, 1))
        middle = round(left + cell_width / 2, 1)
        edges.append(
            Edge(
                inp.id,
                cell.id,
                x_shape,
                "data",
                ((middle, inp.y), (middle, cell.y + cell.h)),
                (middle + 6, round((bus_y + in_top) / 2 + 4, 1)),
            )
        )
        edges.append(
            Edge(
                cell.id,
                out.id,
                h_shape,
                "data",
                ((middle, cell.y), (middle, out.y + out.h)),
                (middle + 6, round(out.y + out.h + LEVEL_GAP / 2 + 4, 1)),
            )
        )
        nodes += [cell, out, inp]
        cells.append(cell)
    order = list(reversed(cells)) if backward else cells
    chain: list[tuple[Node, Node, int]] = [(initial, order[0], 0)]
    chain += [
        (a, b, (steps - i if backward else i + 1)) for i, (a, b) in enumerate(itertools.pairwise(order))
    ]
    for source, target, step in chain:
        _state_edges(edges, source, target, step, states, backward)
    # One dashed bus from the weights box under every cell: the same tensors at each step.
    bus_x = round(shared.x + shared.w / 2, 1)
    for cell in cells:
        drop = round(cell.x + cell.w / 2 - 14, 1)
        path = ((bus_x, shared.y + shared.h), (bus_x, bus_y), (drop, bus_y), (drop, cell.y + cell.h))
        edges.append(Edge(shared.id, cell.id, "", "shared", path, (drop, bus_y)))
    right = max(n.x + n.w for n in nodes)
    return nodes, edges, right, in_top + out_h - top


def _state_edges(
    edges: list[Edge], source: Node, target: Node, step: int, states: Mapping[str, str], backward: bool
) -> None:
    """``h`` (and ``c``) carried from one step to the next, labelled with the step they leave."""
    paths = [("h", "state", 0.34)] + ([("c", "cell", 0.72)] if "c" in states else [])
    for name, kind, height in paths:
        y = round(target.y + target.h * height, 1)
        start = source.x if backward else source.x + source.w
        end = target.x + target.w if backward else target.x
        label = f"{name}_{step} {states[name]}"
        edges.append(
            Edge(
                source.id,
                target.id,
                label,
                kind,
                ((round(start, 1), y), (round(end, 1), y)),
                (round((start + end) / 2, 1), y - 4),
                "middle",
            )
        )


# --- whole diagrams ---------------------------------------------------------------------------


def _describe(main: Mapping[str, Any]) -> str:
    if "spec" in main:
        spec = main["spec"]
        words = [
            spec["cell"],
            f"input {spec['input_size'] if spec['input_size'] is not None else INPUT}",
            f"hidden {spec['hidden_size']}",
            f"{spec['num_layers']} layer" + "s" * (spec["num_layers"] > 1),
        ]
        if spec["bidirectional"]:
            words.append("bidirectional")
        return ", ".join(words)
    return str(main.get("name") or "model")


def _arrange(view: str, title: str, panels: list[Panel], side_by_side: bool) -> Diagram:
    """Put panels next to each other (or one under the other) below the title."""
    placed = []
    x: float = MARGIN
    y: float = MARGIN + 2 * LINE_HEIGHT
    for panel in panels:
        body_top = y + 2 * LINE_HEIGHT + PADDING
        moved = _shift(panel, x, body_top)
        placed.append(moved._replace(x=x, y=y, h=panel.h + 2 * LINE_HEIGHT + PADDING))
        if side_by_side:
            x += panel.w + PANEL_GAP
        else:
            y += panel.h + 2 * LINE_HEIGHT + PADDING + PANEL_GAP
    width = max(p.x + p.w for p in placed) + MARGIN
    width = max(width, text_width(title, FONT_SIZE + 4) + 2 * MARGIN)
    height = max(p.y + p.h for p in placed) + MARGIN
    return Diagram(view, title, tuple(placed), round(width, 1), round(height, 1))


def _shift(panel: Panel, dx: float, dy: float) -> Panel:
    def point(p: Point) -> Point:
        return (round(p[0] + dx, 1), round(p[1] + dy, 1))

    nodes = tuple(n._replace(x=round(n.x + dx, 1), y=round(n.y + dy, 1)) for n in panel.nodes)
    edges = tuple(
        e._replace(points=tuple(point(p) for p in e.points), label_at=point(e.label_at)) for e in panel.edges
    )
    frames = tuple(f._replace(x=round(f.x + dx, 1), y=round(f.y + dy, 1)) for f in panel.frames)
    return panel._replace(nodes=nodes, edges=edges, frames=frames)


def stack_view(main: Mapping[str, Any], sequences: Mapping[str, Any]) -> Diagram:
    """Every framework of ``main`` side by side, each as its stack of layers."""
    panels = [stack_panel(key, main, sequences) for key in main["frameworks"]]
    return _arrange("stack", _describe(main), panels, side_by_side=True)


def unrolled_view(main: Mapping[str, Any], steps: int) -> Diagram:
    """Every framework of ``main`` one under the other, its recurrent layers unrolled."""
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be 1 to {MAX_STEPS}, not {steps}")
    seq_len = _spec_fields(main)["seq_len"]
    shown = min(steps, seq_len) if seq_len else steps
    panels = [unrolled_panel(key, main, shown) for key in main["frameworks"]]
    title = f"{_describe(main)} — unrolled over {shown} steps"
    if seq_len and seq_len > shown:
        title += f" of {seq_len}"
    return _arrange("unrolled", title, panels, side_by_side=False)
