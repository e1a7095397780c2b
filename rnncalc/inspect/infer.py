"""Find the recurrent layers among a file's tensors and infer each one's spec.

Each convention has its rules as data: a name pattern or node inputs giving every tensor a role,
and the number of gate blocks stacked in a weight telling the cell. An inferred spec is then
checked the other way round: :func:`rnncalc.analyze` must predict exactly the tensors found (names
and shapes for PyTorch, shapes for Keras), or the tensors stay "other" with a note saying why.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rnncalc.core.errors import SpecError
from rnncalc.core.spec import Cell, Spec, spec_from_mapping
from rnncalc.inspect.model import Inspection, RecurrentLayer
from rnncalc.io.tensors import FileContents, Node, Tensor, WeightFileError

if TYPE_CHECKING:
    from rnncalc.io.keras_json import KerasLayer

#: Gate blocks stacked along a recurrent weight's gate axis → the cell (PyTorch's and ONNX's
#: ``gates*hidden`` rows, Keras's ``gates*units`` columns).
GATES: dict[int, Cell] = {1: Cell.RNN, 3: Cell.GRU, 4: Cell.LSTM}

#: PyTorch's parameter names in ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (torch/nn/modules/rnn.py,
#: ``RNNBase.__init__``): ``{kind}_l{layer}`` plus ``_reverse`` for the backward direction.
TORCH_NAME = re.compile(
    r"^(?P<prefix>.*?)(?P<kind>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(?P<layer>\d+)(?P<reverse>_reverse)?$"
)

#: ONNX recurrent operators (onnx.ai/onnx/operators/onnx__LSTM.html and GRU, RNN): the
#: positions of the inputs holding weights: W [dirs, gates*hidden, input], R [dirs,
#: gates*hidden, hidden], B [dirs, 2*gates*hidden] (input and recurrent biases), P (peepholes).
ONNX_WEIGHT_INPUTS: dict[int, str] = {1: "W", 2: "R", 3: "B", 7: "P"}
ONNX_CELLS: dict[str, Cell] = {"RNN": Cell.RNN, "GRU": Cell.GRU, "LSTM": Cell.LSTM}
ONNX_ACTIVATIONS: dict[str, str] = {"tanh": "tanh", "relu": "relu"}

#: What a finder returns: recurrent layers, notes, every tensor, and the layer (name and class)
#: holding each tensor where the tensor's own name does not say it (Keras archives).
Found = tuple[list[RecurrentLayer], list[str], tuple[Tensor, ...], dict[str, str]]


def inspect_contents(file: str, contents: FileContents) -> Inspection:
    """The inspection of one file's contents (see :mod:`rnncalc.io.tensors`)."""
    finder = FINDERS[contents.convention]
    recurrent, notes, tensors, owners = finder(file, contents)
    return Inspection(
        file=file,
        format=contents.format,
        convention=contents.convention,
        tensors=tensors,
        layer_of=owners,
        recurrent=tuple(recurrent),
        notes=(*contents.notes, *notes),
        from_config=contents.format == "keras json",
    )


def layer_for(
    prefix: str, spec: Spec, tensors: tuple[Tensor, ...], notes: tuple[str, ...] = ()
) -> RecurrentLayer:
    """A :class:`RecurrentLayer` with what each framework makes of the same spec."""
    from rnncalc import analyze

    analysis = analyze(spec)
    conventions = {
        name: {
            "model": report["model"],
            "supported": report["supported"],
            "total_params": report["total_params"],
            "reason": report["reason"],
        }
        for name, report in analysis["frameworks"].items()
    }
    found = analysis.get("difference")
    difference = found["reason"] if found and found["params"] != 0 else None
    return RecurrentLayer(prefix, spec, tensors, conventions, difference, notes)


def expected_weights(spec: Spec, framework: str) -> list[tuple[str, tuple[int, ...]]]:
    """``(path, shape)`` of every weight ``framework`` holds for ``spec``, as analyze reports."""
    from rnncalc import analyze

    report = analyze(spec)["frameworks"][framework]
    return [
        (weight["path"], tuple(weight["shape"])) for layer in report["layers"] for weight in layer["weights"]
    ]


# --- PyTorch ------------------------------------------------------------------------------------


def find_torch(file: str, contents: FileContents) -> Found:
    """Group ``*weight_ih_l0``-style names by their prefix; each group is one nn.RNN/LSTM/GRU."""
    groups: dict[str, dict[str, Tensor]] = defaultdict(dict)
    for tensor in contents.tensors:
        match = TORCH_NAME.match(tensor.name)
        if match:
            groups[match["prefix"]][tensor.name[len(match["prefix"]) :]] = tensor
    layers, notes = [], []
    for prefix, named in groups.items():
        label = prefix.rstrip(".") or "(top level)"
        fields, why = _torch_fields(named)
        spec = _spec(fields) if fields else None
        if spec is None:
            notes.append(
                f"{label}: recurrent-looking tensors not counted as a layer: {why or 'invalid spec'}"
            )
            continue
        found = {name: tensor.shape for name, tensor in named.items()}
        expected = dict(expected_weights(spec, "torch"))
        if found != expected:
            missing = sorted(set(expected) - set(found))
            odd = sorted(name for name in found if expected.get(name) != found[name])
            notes.append(
                f"{label}: tensors do not match an nn.{spec.cell.name} "
                f"({'missing ' + ', '.join(missing) if missing else 'unexpected ' + ', '.join(odd)}); "
                "left among the other tensors"
            )
            continue
        layer_notes: tuple[str, ...] = ()
        if spec.cell is Cell.RNN:
            layer_notes = ("nonlinearity (tanh or relu) is not recorded in the weights; tanh assumed",)
        ordered = tuple(named[name] for name in expected)
        layers.append(layer_for(prefix.rstrip("."), spec, ordered, layer_notes))
    return layers, notes, contents.tensors, {}


def _torch_fields(named: Mapping[str, Tensor]) -> tuple[dict[str, Any] | None, str | None]:
    """Spec fields from one prefix's tensors: hidden and projection sizes from ``weight_hh`` and
    ``weight_hr``, gates from ``weight_hh``'s rows, input size from ``weight_ih_l0``."""
    first_ih, first_hh = named.get("weight_ih_l0"), named.get("weight_hh_l0")
    if first_ih is None or first_hh is None or len(first_ih.shape) != 2 or len(first_hh.shape) != 2:
        return None, "no 2-D weight_ih_l0 and weight_hh_l0"
    projection = named.get("weight_hr_l0")
    if projection is not None and len(projection.shape) == 2:
        proj_size, hidden = projection.shape
    else:
        proj_size, hidden = 0, first_hh.shape[1]
    rows = first_hh.shape[0]
    if hidden < 1 or rows % hidden or rows // hidden not in GATES:
        return None, f"weight_hh_l0 has {rows} rows, not 1, 3 or 4 gate blocks of {hidden}"
    layers = 1 + max(int(re.search(r"_l(\d+)", name)[1]) for name in named)  # type: ignore[index]
    return {
        "cell": GATES[rows // hidden],
        "hidden_size": hidden,
        "input_size": first_ih.shape[1],
        "num_layers": layers,
        "bidirectional": any(name.endswith("_reverse") for name in named),
        "bias": "bias_ih_l0" in named,
        "proj_size": proj_size,
    }, None


def _spec(fields: Mapping[str, Any]) -> Spec | None:
    try:
        return spec_from_mapping(fields)
    except SpecError:
        return None


# --- Keras --------------------------------------------------------------------------------------


def _dense_weights(config: Mapping[str, Any], features: int) -> list[tuple[str, tuple[int, ...]]]:
    units = config.get("units")
    if not isinstance(units, int):
        return []
    return [("kernel", (features, units))] + ([("bias", (units,))] if config.get("use_bias", True) else [])


def _normalization_weights(kinds: tuple[str, ...]) -> Callable[[Mapping[str, Any], int], list[Any]]:
    def weights(config: Mapping[str, Any], features: int) -> list[tuple[str, tuple[int, ...]]]:
        flags = {"gamma": config.get("scale", True), "beta": config.get("center", True)}
        return [(kind, (features,)) for kind in kinds if flags.get(kind, True)]

    return weights


def _time_distributed_weights(config: Mapping[str, Any], features: int) -> list[tuple[str, tuple[int, ...]]]:
    inner = config.get("layer")
    if isinstance(inner, Mapping) and inner.get("class_name") == "Dense":
        return _dense_weights(inner.get("config") or {}, features)
    return []


#: Weighted Keras layers whose weights follow from their config and input features, for a
#: model JSON without a weight file (keras/src/layers/...: each layer's ``build``).
KERAS_CONFIG_WEIGHTS: dict[str, Callable[[Mapping[str, Any], int], list[tuple[str, tuple[int, ...]]]]] = {
    "Dense": _dense_weights,
    "TimeDistributed": _time_distributed_weights,
    "LayerNormalization": _normalization_weights(("gamma", "beta")),
    "BatchNormalization": _normalization_weights(("gamma", "beta", "moving_mean", "moving_variance")),
}
#: Layers holding no weights at all, beside :data:`rnncalc.io.keras_json.PASS_THROUGH`.
KERAS_WEIGHTLESS = frozenset(
    {
        "InputLayer", "Flatten", "Reshape", "Permute", "RepeatVector", "Concatenate", "Add", "Subtract",
        "Multiply", "Average", "Maximum", "Minimum", "Lambda", "Cropping1D", "ZeroPadding1D",
        "GlobalMaxPooling1D", "GlobalAveragePooling1D", "MaxPooling1D", "AveragePooling1D",
    }
)  # fmt: skip


def find_keras(file: str, contents: FileContents) -> Found:
    """Recurrent layers from the config, checked against (and counted from) the weight file."""
    from rnncalc.io.keras_json import MASK_OPS, PASS_THROUGH, keras_layers, recurrent_fields

    assert contents.config is not None  # every Keras reader returns the config
    try:
        config_layers = keras_layers(contents.config)
    except SpecError as error:
        raise WeightFileError(file, f"Keras config: {error}") from None
    weightless = KERAS_WEIGHTLESS | PASS_THROUGH | MASK_OPS
    by_layer: dict[str, list[Tensor]] = defaultdict(list)
    for tensor in contents.tensors:
        parts = tensor.name.split("/")
        by_layer[parts[1] if len(parts) > 2 else ""].append(tensor)
    keys = (
        archive_keys(config_layers) if contents.format == "keras" else [layer.name for layer in config_layers]
    )
    from_config = contents.format == "keras json"
    tensors: list[Tensor] = list(contents.tensors)
    owners: dict[str, str] = {}
    layers, notes = [], []
    for index, layer in enumerate(config_layers):
        features = layer.input_shape[-1] if layer.input_shape else None
        try:
            fields = recurrent_fields(("config", "layers", index), layer)
        except SpecError as error:
            notes.append(f"{layer.class_name} {layer.name!r} not read: {error.message}")
            continue
        key = keys[index]
        held = tuple(by_layer.get(key, ())) if key is not None else ()
        owners.update((tensor.name, f"{layer.name} ({layer.class_name})") for tensor in held)
        if fields is not None:
            if from_config:
                spec = _spec({**fields, "input_size": features})
                if spec is None:
                    notes.append(f"{layer.class_name} {layer.name!r}: its config is not a valid spec")
                    continue
                held = tuple(
                    Tensor(path, shape, "float32") for path, shape in expected_weights(spec, "keras")
                )
                tensors.extend(held)
                owners.update((tensor.name, f"{layer.name} ({layer.class_name})") for tensor in held)
            else:
                spec = _keras_spec_matching(fields, features, held)
                if spec is None:
                    notes.append(
                        f"{layer.class_name} {layer.name!r}: the weight file's shapes "
                        f"{sorted(t.shape for t in held)} do not match its config; "
                        "left among the other tensors"
                    )
                    continue
            layers.append(layer_for(layer.name, spec, held))
            continue
        if layer.class_name in weightless or layer.is_operation:
            continue
        if not from_config:
            if held and layer.class_name not in KERAS_CONFIG_WEIGHTS and layer.class_name != "Embedding":
                count = sum(t.numel for t in held)
                notes.append(
                    f"{layer.class_name} {layer.name!r}: {count:,} parameters counted from the weight file"
                )
            continue
        synthesized = _config_weights(layer, features)
        if synthesized is None:
            notes.append(
                f"{layer.class_name} {layer.name!r}: weights unknown without a weight file; not counted"
            )
            continue
        made = [Tensor(f"{layer.name}/{name}", shape, "float32") for name, shape in synthesized]
        tensors.extend(made)
        owners.update((tensor.name, f"{layer.name} ({layer.class_name})") for tensor in made)
    return layers, notes, tuple(tensors), owners


def archive_keys(config_layers: Sequence[KerasLayer]) -> list[str | None]:
    """Where a ``.keras`` archive keeps each layer's variables: not under the layer's name but
    under the snake_case of its class, numbered from the second layer of a class on (``dense``,
    ``dense_1``), in the order of ``model.layers`` (keras/src/saving/saving_lib.py,
    ``_save_container_state``; keras/src/utils/naming.py, ``to_snake_case``). Operation nodes
    are not layers and get no key."""
    used: dict[str, int] = {}
    keys: list[str | None] = []
    for layer in config_layers:
        if layer.is_operation:
            keys.append(None)
            continue
        name = re.sub(r"\W+", "", layer.class_name)
        name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
        name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
        used[name] = used.get(name, -1) + 1
        keys.append(f"{name}_{used[name]}" if used[name] else name)
    return keys


def _keras_spec_matching(
    fields: Mapping[str, Any], features: int | None, held: tuple[Tensor, ...]
) -> Spec | None:
    """The spec whose Keras weights have exactly the shapes ``held``; the input size comes from
    ``build_config`` or, when the config does not record it, from the kernels' first axis."""
    found = sorted(tensor.shape for tensor in held)
    kernels = {t.shape[0] for t in held if len(t.shape) == 2}
    candidates = [features] if features is not None else sorted(kernels)
    for input_size in candidates:
        spec = _spec({**fields, "input_size": input_size})
        if spec is not None and sorted(shape for _, shape in expected_weights(spec, "keras")) == found:
            return spec
    return None


def _config_weights(layer: Any, features: int | None) -> list[tuple[str, tuple[int, ...]]] | None:
    """The weights a known layer builds, from its config; None when they cannot be known."""
    if layer.class_name == "Embedding":
        vocab, dim = layer.config.get("input_dim"), layer.config.get("output_dim")
        return [("embeddings", (vocab, dim))] if _sizes((vocab, dim)) else None
    rule = KERAS_CONFIG_WEIGHTS.get(layer.class_name)
    if rule is None or features is None:
        return None
    weights = rule(layer.config, features)
    return weights if weights and all(_sizes(shape) for _, shape in weights) else None


def _sizes(shape: tuple[Any, ...]) -> bool:
    """True when every dimension is a positive integer (a config may say anything)."""
    return all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)


# --- ONNX ---------------------------------------------------------------------------------------


def find_onnx(file: str, contents: FileContents) -> Found:
    """One recurrent layer per ONNX LSTM/GRU/RNN node, from its W/R/B initializers."""
    initializers = {tensor.name: tensor for tensor in contents.tensors}
    layers, notes = [], []
    for index, node in enumerate(contents.nodes):
        label = node.name or f"{node.op_type}#{index}"
        named = {
            role: node.inputs[position]
            for position, role in ONNX_WEIGHT_INPUTS.items()
            if position < len(node.inputs) and node.inputs[position]
        }
        weights = {role: initializers[name] for role, name in named.items() if name in initializers}
        if len(weights) != len(named) or "W" not in weights or "R" not in weights:
            notes.append(f"{label}: its weights are computed in the graph, not initializers; not inferred")
            continue
        spec, why = _onnx_spec(node, weights)
        if spec is None:
            notes.append(f"{label}: {why}; left among the other tensors")
            continue
        layer_notes = []
        if "P" in weights:
            layer_notes.append("P (peephole weights) has no counterpart in PyTorch or Keras")
        for attribute in ("clip", "input_forget"):
            if node.attributes.get(attribute):
                layer_notes.append(f"{attribute}={node.attributes[attribute]} changes the computation")
        if node.attributes.get("direction") == "reverse":
            layer_notes.append("direction=reverse: one direction, run from the last step to the first")
        held = tuple(weights[role] for role in ("W", "R", "B", "P") if role in weights)
        layers.append(layer_for(label, spec, held, tuple(layer_notes)))
    return layers, notes, contents.tensors, {}


def _onnx_spec(node: Node, weights: Mapping[str, Tensor]) -> tuple[Spec | None, str]:
    w, r, b = weights["W"], weights["R"], weights.get("B")
    if len(w.shape) != 3 or len(r.shape) != 3:
        return None, "W and R are not 3-D"
    directions, rows, features = w.shape
    hidden = r.shape[2]
    cell = ONNX_CELLS[node.op_type]
    gates = {Cell.RNN: 1, Cell.GRU: 3, Cell.LSTM: 4}[cell]
    if node.attributes.get("hidden_size", hidden) != hidden or rows != gates * hidden:
        return None, f"W has {rows} rows, not {gates} gate blocks of hidden_size {hidden}"
    if r.shape != (directions, rows, hidden) or (b is not None and b.shape != (directions, 2 * rows)):
        return None, "W, R and B shapes disagree"
    fields: dict[str, Any] = {
        "cell": cell,
        "hidden_size": hidden,
        "input_size": features,
        "bidirectional": directions == 2,
        "bias": b is not None,
    }
    if cell is Cell.GRU:
        # linear_before_reset=1 applies the reset gate after the recurrent matmul: Keras's
        # reset_after=True, PyTorch's only GRU; the ONNX default is 0.
        fields["reset_after"] = bool(node.attributes.get("linear_before_reset", 0))
    if cell is Cell.RNN:
        activations = [str(a).lower() for a in node.attributes.get("activations", ["Tanh"])]
        if activations[0] not in ONNX_ACTIVATIONS:
            return None, f"activation {activations[0]} is neither tanh nor relu"
        fields["nonlinearity"] = ONNX_ACTIVATIONS[activations[0]]
    spec = _spec(fields)
    return spec, "" if spec else "its sizes are not a valid spec"


FINDERS: dict[str, Callable[[str, FileContents], Found]] = {
    "torch": find_torch,
    "keras": find_keras,
    "onnx": find_onnx,
}
