"""Flax NNX's weight files: the msgpack state Flax's checkpointing guide writes without Orbax
(read and written) and Orbax checkpoints (read, through ``orbax-checkpoint``), and the
recurrent layers found in them wherever the model keeps them.

Imported by :class:`~rnncalc.frameworks.flax.FlaxConvention`'s file methods only, so that
importing the registry stays cheap.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from rnncalc.core.errors import FrameworkMissingError
from rnncalc.core.spec import Cell, MergeMode, Spec
from rnncalc.frameworks.inspection import GATES, Found, layer_for, spec_or_none
from rnncalc.io.tensor_data import TensorData, TensorFormat
from rnncalc.io.tensors import FileContents, Tensor, WeightFileError, require_module
from rnncalc.io.weight_format import WeightFormat

if TYPE_CHECKING:
    from rnncalc.frameworks.writing import Pairs, Plan

#: What reading an Orbax checkpoint needs, in the words of a missing-package error.
ORBAX_HINT = "pip install 'rnncalc[orbax]'"
#: Entries of a checkpoint directory walked before it is refused (a real one has a few per array).
MAX_DIRECTORY_ENTRIES = 100_000
#: Largest JSON file orbax may parse whole (``_METADATA``, ``_sharding``, ``array_metadatas/*``):
#: the bound safetensors puts on its JSON header; a real one holds a line or two per array.
MAX_METADATA_BYTES = 100_000_000


def weight_formats() -> tuple[WeightFormat, ...]:
    """Msgpack states (by suffix, or a bare file starting as a msgpack map) and Orbax
    checkpoint directories."""
    return (
        WeightFormat("flax msgpack", "Flax NNX msgpack state", (".msgpack",), read_msgpack_state,
                     sniff=_looks_like_msgpack_map),
        WeightFormat("orbax", "Orbax checkpoint", (), read_orbax_checkpoint, holds=is_orbax_checkpoint),
    )  # fmt: skip


def tensor_formats() -> tuple[TensorFormat, ...]:
    """Msgpack states, read and written (``--to flax``); Orbax checkpoints, read."""
    return (
        TensorFormat("flax msgpack", "Flax NNX state (flax.serialization msgpack)", (".msgpack",),
                     open_msgpack_state, target="flax", write=write_msgpack_state),
        TensorFormat("orbax", "Flax NNX state (Orbax checkpoint)", (), open_orbax_checkpoint),
    )  # fmt: skip


def _looks_like_msgpack_map(path: str, head: bytes) -> bool:
    """A fixmap, map16 or map32 whose first key is a str (``flax.training.checkpoints`` names
    its msgpack files ``checkpoint_<step>``, without a suffix)."""
    from rnncalc.frameworks.flax_msgpack import FIXMAP, FIXSTR, MAP, STR

    if not head or (head[0] not in FIXMAP and head[0] not in MAP):
        return False
    first = 1 + MAP.get(head[0], 0)
    return len(head) > first and (head[first] in FIXSTR or head[first] in STR)


# --- Flax msgpack states --------------------------------------------------------------------------

#: Array name → (shape, dtype name) as the file states them.
Entries = dict[str, tuple[tuple[int, ...], str]]


def _msgpack_state(path: str) -> tuple[Entries, Callable[[str], Any], Callable[[str], Any] | None]:
    """``name → (shape, dtype)`` of every array of a Flax msgpack state, a reader of one
    array's values as float32, and the view of its bytes in the file (None when decoded whole).

    The file is memory-mapped and its arrays found by :func:`~rnncalc.frameworks.flax_msgpack.scan`,
    each served as a view of its bytes (released page by page as a conversion moves on); a
    file the scan does not read (chunked arrays, scalars) is decoded whole by
    ``flax.serialization.msgpack_restore``."""
    import mmap

    import numpy as np

    from rnncalc.frameworks.flax_msgpack import NotScanned, scan
    from rnncalc.io.mapped import mapped

    try:
        with open(path, "rb") as handle:
            file_map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    except ValueError:  # an empty file cannot be mapped: msgpack_restore says what is wrong
        return _restored_msgpack_state(path)
    try:
        arrays = scan(file_map)
    except (NotScanned, RecursionError):
        return _restored_msgpack_state(path)

    def view(name: str) -> Any:
        """The array's values in the mapped file (not copied; None when it has none)."""
        offset, dtype, shape = arrays[name]
        stored = "uint16" if dtype == "bfloat16" else dtype
        values = np.frombuffer(file_map, dtype=stored, count=math.prod(shape), offset=offset)
        return values.reshape(shape) if values.size else None

    def read(name: str) -> Any:
        values = view(name)
        if values is None:  # empty: its dtype still decides whether convert moves it
            dtype = arrays[name][1]
            return np.zeros(arrays[name][2], dtype=np.float32 if dtype == "bfloat16" else dtype)
        if arrays[name][1] == "bfloat16":  # the scan's raw 16 bits: float32's high half, exact
            return (values.astype(np.uint32) << 16).view(np.float32)
        return mapped(values) if values.dtype == np.float32 else values  # made float32 by TensorData

    entries = {name: (shape, dtype) for name, (_, dtype, shape) in arrays.items()}
    return entries, read, view


def _restored_msgpack_state(path: str) -> tuple[Entries, Callable[[str], Any], None]:
    """The state decoded whole by ``flax.serialization.msgpack_restore``: nested maps of
    numeric arrays, anything else refused."""
    import numpy as np

    from rnncalc.frameworks.flax import CONVENTION

    serialization = require_module("flax.serialization", CONVENTION.install_hint, path)
    try:
        with open(path, "rb") as handle:
            state = serialization.msgpack_restore(handle.read())
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    except Exception as error:  # msgpack's errors share no base class with ours
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__  # StackError says nothing
        raise WeightFileError(path, f"not a Flax msgpack state: {reason}") from None
    if not isinstance(state, Mapping):
        raise WeightFileError(
            path, f"not a Flax msgpack state: a {type(state).__name__}, not a map of arrays"
        )
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Mapping[Any, Any]) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, Mapping):
                walk(f"{name}.", value)
                continue
            if not isinstance(value, np.ndarray | np.generic) or not _numeric(value.dtype):
                kind = getattr(value, "dtype", None) or type(value).__name__
                raise WeightFileError(
                    path, f"not a Flax msgpack state: {name!r} is a {kind}, not a numeric array"
                )
            if name in flat:
                raise WeightFileError(path, f"not a Flax msgpack state: two entries are named {name!r}")
            flat[name] = np.asarray(value)

    walk("", state)
    entries = {name: (tuple(int(d) for d in value.shape), value.dtype.name) for name, value in flat.items()}
    return entries, flat.__getitem__, None


def _numeric(dtype: Any) -> bool:
    """Booleans, integers and floats, bfloat16 too (ml_dtypes gives it numpy's kind ``V``)."""
    return dtype.kind in "biuf" or dtype.name == "bfloat16"


def read_msgpack_state(path: str) -> FileContents:
    """The arrays of a Flax msgpack state, named by their dotted paths (names, shapes and
    dtypes; no value is read)."""
    entries, _, _ = _msgpack_state(path)
    return _contents(entries)


def open_msgpack_state(path: str) -> TensorData:
    """A Flax NNX state written by ``flax.serialization.msgpack_serialize`` of
    ``nnx.to_pure_dict(nnx.state(model, nnx.Param))``: nested dicts flattened to the dotted
    paths ``nnx.to_flat_state`` gives (``layers.0.cell.dense_i.kernel``), each array read as
    float32 when looked up."""
    entries, read, view = _msgpack_state(path)
    return TensorData(list(entries), read, lambda: None, view)


def write_msgpack_state(plan: Plan, pairs: Pairs, path: str) -> None:
    """The bytes ``flax.serialization.msgpack_serialize(nnx.to_pure_dict(nnx.state(model,
    nnx.Param)))`` writes for the Flax convention's model holding ``pairs``; restore with
    ``nnx.replace_by_pure_dict`` and ``nnx.update`` (Flax's checkpointing guide, without Orbax).

    Neither the model nor the tree is built: the file's structure follows from the target's
    names and shapes (:func:`~rnncalc.frameworks.flax_msgpack.layout`), so it is written
    first and each array's values go to their place as they arrive (the file's key order,
    sorted, is not the report's), one tensor held at a time."""
    import numpy as np

    from rnncalc.frameworks.flax import CONVENTION
    from rnncalc.frameworks.flax_msgpack import layout
    from rnncalc.frameworks.writing import checked, target_rows

    try:
        planned = layout(target_rows(plan))
    except ImportError:
        hint = CONVENTION.install_hint
        raise FrameworkMissingError(f"writing a Flax state needs msgpack: {hint}") from None
    with open(path, "wb") as handle:
        for offset, data in planned.pieces:
            handle.seek(offset)
            handle.write(data)
        for name, array in checked(plan, pairs):
            flat = np.ascontiguousarray(array, dtype=np.float32).reshape(-1)
            del array  # not held while the next tensor is made
            for offset, first, end in planned.arrays[name]:
                handle.seek(offset)
                handle.write(flat[first:end].data)
            del flat


#: ``nnx.Rngs`` streams an ``nnx.RNN`` keeps (``rngs.count``, ``rngs.key``): state, not
#: parameters (``nnx.state(model, nnx.Param)`` leaves them out).
RNG_STATE = re.compile(r"(?:^|\.)rngs\.(?:count|key)$")


def _contents(entries: Entries) -> FileContents:
    """The tensors of ``entries``, without the RNG state, which is said in a note."""
    tensors = tuple(Tensor(name, shape, dtype) for name, (shape, dtype) in entries.items())
    kept = tuple(tensor for tensor in tensors if not RNG_STATE.search(tensor.name))
    skipped = len(tensors) - len(kept)
    notes = (f"{skipped} RNG-state entries (rngs.count, rngs.key) are not parameters: not counted",)
    return FileContents(tensors=kept, notes=notes if skipped else (), order=_list_order(kept))


def _list_order(tensors: tuple[Tensor, ...]) -> tuple[str, ...]:
    """The names in the order of the ``nnx.List`` holding every module (``layers.0.``,
    ``layers.1.``, ..., ``layers.10.``: its index is the order the model runs them in; a state
    keeps the keys sorted as text), or none when the modules are named otherwise."""
    paths = [tensor.name.split(".") for tensor in tensors]
    if len(paths) < 2 or any(len(path) < 3 or not path[1].isdigit() for path in paths):
        return ()
    if len({path[0] for path in paths}) != 1:
        return ()
    return tuple(tensor.name for _, tensor in sorted(zip(paths, tensors, strict=True), key=_by_index))


def _by_index(entry: tuple[list[str], Tensor]) -> tuple[int, str]:
    path, tensor = entry
    return int(path[1]), tensor.name


# --- Orbax checkpoints ------------------------------------------------------------------------------

#: A step directory of an Orbax ``CheckpointManager`` (``5``, or ``<prefix>_5``).
STEP = re.compile(r"^(?:.*_)?(\d+)$")


def is_orbax_checkpoint(path: str) -> bool:
    """True when the directory is an Orbax checkpoint: an item (``_METADATA``), a checkpoint of
    several items (``_CHECKPOINT_METADATA``) or a manager's root holding step directories."""
    return any(
        os.path.isfile(os.path.join(path, name)) for name in ("_METADATA", "_CHECKPOINT_METADATA")
    ) or bool(_steps(path))


def _steps(path: str) -> dict[int, str]:
    """A ``CheckpointManager``'s finished steps under ``path``: step → directory."""
    steps = {}
    try:
        with os.scandir(path) as entries:
            for count, entry in enumerate(entries):
                if count >= MAX_DIRECTORY_ENTRIES:
                    break
                found = STEP.match(entry.name)
                if (
                    found
                    and entry.is_dir(follow_symlinks=False)
                    and os.path.isfile(os.path.join(entry.path, "_CHECKPOINT_METADATA"))
                ):
                    steps[int(found[1])] = entry.path
    except OSError:
        return {}
    return steps


def _orbax_item(path: str) -> tuple[str, str | None]:
    """The directory holding the checkpoint's PyTree (``_METADATA``), and a note saying which
    step and item were taken when ``path`` holds several."""
    chosen: list[str] = []
    root = path
    steps = _steps(path)
    if steps and not os.path.isfile(os.path.join(path, "_METADATA")):
        step = max(steps)
        root = steps[step]
        others = ", ".join(str(s) for s in sorted(steps) if s != step)
        chosen.append(f"step {step}, the latest" + (f" (also: {others})" if others else ""))
    if not os.path.isfile(os.path.join(root, "_METADATA")):
        with os.scandir(root) as entries:
            items = sorted(
                entry.name
                for entry in entries
                if entry.is_dir(follow_symlinks=False)
                and os.path.isfile(os.path.join(entry.path, "_METADATA"))
            )
        if not items:
            raise WeightFileError(path, "an Orbax checkpoint without a PyTree item (no _METADATA)")
        if len(items) > 1:
            raise WeightFileError(
                path,
                f"an Orbax checkpoint of {len(items)} items ({', '.join(items)}); "
                f"name the one to read: {os.path.join(root, items[0])}",
            )
        root = os.path.join(root, items[0])
        if len(chosen) or items[0] != "default":
            chosen.append(f"item {items[0]!r}")
    note = f"read {' '.join(chosen)}: {root}" if chosen else None
    return root, note


def _confined(path: str, root: str) -> None:
    """Refuse a checkpoint with a symbolic link or a special file anywhere in ``root`` (orbax
    and tensorstore would follow a link out of the directory), or too many entries."""
    count = 0
    for directory, names, files in os.walk(root, followlinks=False):
        for name in (*names, *files):
            count += 1
            full = os.path.join(directory, name)
            if os.path.islink(full):
                where = os.path.relpath(full, root)
                raise WeightFileError(
                    path, f"{where} is a symbolic link; rnncalc reads checkpoints whose files are all inside"
                )
            if name in files and not os.path.isfile(full):
                raise WeightFileError(path, f"{os.path.relpath(full, root)} is not a regular file")
            json_file = name.startswith("_") or os.path.basename(directory) == "array_metadatas"
            if name in files and json_file and os.path.getsize(full) > MAX_METADATA_BYTES:
                size = os.path.getsize(full)
                where = os.path.relpath(full, root)
                raise WeightFileError(
                    path, f"{where} holds {size:,} bytes of JSON, over {MAX_METADATA_BYTES:,}"
                )
        if count > MAX_DIRECTORY_ENTRIES:
            raise WeightFileError(
                path, f"more than {MAX_DIRECTORY_ENTRIES:,} files: not a checkpoint rnncalc reads"
            )


#: A key orbax may turn into a file path (``use_ocdbt=False`` keeps one directory per array).
SAFE_KEY = re.compile(r"^[^/\\\x00]+$")


def _orbax_arrays(path: str) -> tuple[str, str | None, dict[str, tuple[tuple[str, ...], Any]], int]:
    """The item directory, the note on what was chosen, ``name → (keys, ArrayMetadata)`` of
    every array leaf (names dotted, nnx's trailing ``value`` dropped) and the number of other
    leaves (scalars, strings), from the checkpoint's metadata alone."""
    ocp = _orbax(path)
    from etils import epath

    item, note = _orbax_item(path)
    _confined(path, item)
    try:
        tree = ocp.PyTreeCheckpointHandler().metadata(epath.Path(item)).tree
    except Exception as error:  # orbax and tensorstore raise many kinds
        raise WeightFileError(path, f"not a readable Orbax checkpoint: {_first_line(error)}") from None
    leaves: list[tuple[tuple[str, ...], Any]] = []

    def walk(keys: tuple[str, ...], node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk((*keys, str(key)), value)
        elif isinstance(node, list | tuple):
            for index, value in enumerate(node):
                walk((*keys, str(index)), value)
        else:
            leaves.append((keys, node))

    walk((), tree)
    for keys, _ in leaves:
        bad = next((key for key in keys if not SAFE_KEY.match(key) or key in (".", "..")), None)
        if bad is not None:
            raise WeightFileError(path, f"the key {bad!r} could name a file outside the checkpoint")
    arrays = [(keys, meta) for keys, meta in leaves if isinstance(meta, ocp.metadata.ArrayMetadata)]
    strip = bool(arrays) and all(keys[-1] == "value" and len(keys) > 1 for keys, _ in arrays)
    named = {".".join(keys[:-1] if strip else keys): (keys, meta) for keys, meta in arrays}
    return item, note, named, len(leaves) - len(arrays)


def _orbax(path: str) -> Any:
    """``orbax.checkpoint``, or the one-line install hint."""
    try:
        import orbax.checkpoint as ocp
    except ImportError:
        raise FrameworkMissingError(f"{path}: an Orbax checkpoint: {ORBAX_HINT}") from None
    return ocp


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def read_orbax_checkpoint(path: str) -> FileContents:
    """An Orbax checkpoint's arrays (names, shapes, dtypes from its metadata; no value read).
    A manager's root is read at its latest step, said on stderr and in a note."""
    _, note, named, others = _orbax_arrays(path)
    contents = _contents({name: (tuple(meta.shape), str(meta.dtype)) for name, (_, meta) in named.items()})
    notes = [*([note] if note else []), *contents.notes]
    if others:
        notes.append(f"{others} entries that are not arrays (scalars, strings) are not counted")
    if note:
        print(f"rnncalc: note: {path}: {note}", file=sys.stderr)
    return FileContents(tensors=contents.tensors, notes=tuple(notes))


def open_orbax_checkpoint(path: str) -> TensorData:
    """Each array restored alone when looked up, as a numpy array on the CPU (orbax's
    ``PyTreeCheckpointHandler`` with ``RestoreArgs(restore_type=np.ndarray)`` and a partial
    tree), so a conversion holds one tensor at a time."""
    import numpy as np

    ocp = _orbax(path)
    from etils import epath

    item, _, named, _ = _orbax_arrays(path)
    handler = ocp.PyTreeCheckpointHandler()

    def read(name: str) -> Any:
        keys, meta = named[name]
        tree: Any = meta
        arguments: Any = ocp.RestoreArgs(restore_type=np.ndarray)
        for key in reversed(keys):
            tree, arguments = {key: tree}, {key: arguments}
        try:
            restored = handler.restore(
                epath.Path(item),
                args=ocp.args.PyTreeRestore(item=tree, restore_args=arguments, partial_restore=True),
            )
        except Exception as error:  # orbax and tensorstore raise many kinds
            raise WeightFileError(path, f"{name}: not readable: {_first_line(error)}") from None
        for key in keys:
            restored = restored[key]
        return np.asarray(restored)  # made float32, or refused, by TensorData

    return TensorData(list(named), read, lambda: None)


# --- Finding the recurrent layers -----------------------------------------------------------------


#: A layer found: its one-layer spec and its tensors in the order of the convention's report rows.
Layer = tuple[Spec, tuple[Tensor, ...]]


def _slot_names() -> frozenset[str]:
    """Every parameter path inside a Flax cell (``dense_i.kernel``, ``hf.bias``...)."""
    from rnncalc.frameworks.flax import cell_slots

    return frozenset(slot.name for cell in Cell for slot in cell_slots(cell, 1, 1))


def find_layers(file: str, contents: FileContents) -> Found:
    """Every ``nnx.RNN`` and ``nnx.Bidirectional`` wherever the model keeps it: cells are found
    by their parameter names under a ``cell`` attribute (``encoder.cell.ii.kernel``), two RNNs
    named ``forward_rnn``/``backward_rnn`` are one bidirectional layer, and consecutive items of
    a list (``blocks.0``, ``blocks.1``) whose sizes chain are one stack. Each is checked
    against the Flax convention's report for the spec its shapes imply."""
    from rnncalc.frameworks.flax import DIRECTION_ATTRIBUTES

    slots = _slot_names()
    cells: dict[str, dict[str, Tensor]] = defaultdict(dict)
    for tensor in contents.tensors:
        parts = tensor.name.split(".")
        if len(parts) > 2 and ".".join(parts[-2:]) in slots:
            cells[".".join(parts[:-2])][tensor.name] = tensor
    notes: list[str] = []
    modules: dict[str, dict[str, dict[str, Tensor]]] = defaultdict(dict)
    attributes = {attribute: direction for direction, attribute in DIRECTION_ATTRIBUTES.items()}
    for path, tensors in cells.items():
        owner, _, last = path.rpartition(".")
        if last != "cell":
            notes.append(
                f"{path}: a cell's weights outside nnx.RNN (cells run a step at a time are not "
                "modelled); left among the other tensors"
            )
            continue
        parent, _, attribute = owner.rpartition(".")
        if attribute in attributes:
            modules[parent][attributes[attribute]] = tensors
        else:
            modules[owner]["forward"] = tensors
    layers: dict[str, Layer] = {}
    for path, directions in modules.items():
        layer = _layer(path, directions)
        if isinstance(layer, str):
            notes.append(
                f"{path or '(top level)'}: recurrent-looking tensors not counted as a layer: {layer}"
            )
        else:
            layers[path] = layer
    position = {tensor.name: index for index, tensor in enumerate(contents.tensors)}
    stacks = sorted(_stacks(layers), key=lambda stack: position[stack[2][0].name])
    found = [layer_for(prefix, spec, tensors, _assumed(spec)) for prefix, spec, tensors in stacks]
    return found, notes, contents.tensors, {}


def _layer(path: str, directions: Mapping[str, Mapping[str, Tensor]]) -> Layer | str:
    """The one-layer spec of an ``nnx.RNN``/``nnx.Bidirectional`` at ``path`` and its tensors in
    report order, or why it is not one."""
    from rnncalc.frameworks.flax import CONVENTION

    if "forward" not in directions:
        return "a backward_rnn without its forward_rnn"
    prefix = f"{path}." if path else ""
    base = f"{prefix}forward_rnn.cell." if "backward" in directions else f"{prefix}cell."
    fields = _cell_fields({name.removeprefix(base): t.shape for name, t in directions["forward"].items()})
    if isinstance(fields, str):
        return fields
    spec = spec_or_none({**fields, "bidirectional": "backward" in directions})
    if spec is None:
        return "the shapes are no valid layer"
    found = {name: tensor for tensors in directions.values() for name, tensor in tensors.items()}
    rows = [row for layer in CONVENTION.report(spec).layers for row in layer.weights]
    expected = {f"{prefix}{row.path}": tuple(row.shape) for row in rows}
    if {name: tensor.shape for name, tensor in found.items()} != expected:
        missing = sorted(set(expected) - set(found))
        odd = sorted(name for name in found if expected.get(name) != found[name].shape)
        what = f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(odd)}"
        return f"the tensors do not match an {CONVENTION.model_name(spec)} ({what})"
    return spec, tuple(found[name] for name in expected)


def _cell_fields(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, Any] | str:
    """Cell, hidden and input size from one cell's kernels: ``LSTMCell``'s ``ii`` ``(I, H)``,
    else ``dense_i`` ``(I, gH)`` and ``dense_h`` ``(H, gH)``; a reason string when they are not
    one cell's."""
    if "ii.kernel" in shapes and "hi.kernel" in shapes:
        input_kernel, hidden_kernel, cell = shapes["ii.kernel"], shapes["hi.kernel"], Cell.LSTM
    elif "dense_i.kernel" in shapes and "dense_h.kernel" in shapes:
        input_kernel, hidden_kernel, cell = shapes["dense_i.kernel"], shapes["dense_h.kernel"], None
    else:
        return "no input and hidden kernels of one cell"
    if len(input_kernel) != 2 or len(hidden_kernel) != 2 or hidden_kernel[0] < 1:
        return "kernels that are not 2-D"
    hidden, columns = hidden_kernel
    if cell is None:
        if columns == 4 * hidden:  # OptimizedLSTMCell stacks LSTMCell's eight kernels in two
            return (
                "an nnx.OptimizedLSTMCell (gates stacked in dense_i, dense_h), which rnncalc does not model"
            )
        if columns % hidden or columns // hidden not in (1, 3):
            return f"dense_h.kernel has {columns} columns, not 1 or 3 gate blocks of {hidden}"
        cell = GATES[columns // hidden]
    return {"cell": cell, "hidden_size": hidden, "input_size": input_kernel[0]}


def _stacks(
    layers: Mapping[str, Layer],
) -> list[tuple[str, Spec, tuple[Tensor, ...]]]:
    """Layers as stacks: consecutive items ``P.k``, ``P.k+1``... of one list whose sizes chain
    (each one's input the features the one before hands on, the same merge throughout) are one
    stack, named ``P`` when it is the whole list and ``P[k:n]`` otherwise; other layers alone."""
    items: dict[str, dict[int, str]] = defaultdict(dict)
    for path in layers:
        parent, _, last = path.rpartition(".")
        if last.isdecimal():
            items[parent][int(last)] = path
    runs: list[tuple[str, list[str], MergeMode]] = []
    taken: set[str] = set()
    for parent, indices in items.items():
        run: list[int] = []
        merge = MergeMode.CONCAT
        for index in sorted(indices):
            linked = None
            if run and index == run[-1] + 1:
                before = layers[indices[run[-1]]][0]
                linked = _link(before, layers[indices[index]][0], merge if len(run) > 1 else None)
            if linked is None:
                if run:
                    runs.append((parent, [indices[i] for i in run], merge))
                run, merge = [index], MergeMode.CONCAT
            else:
                run.append(index)
                merge = linked
        runs.append((parent, [indices[i] for i in run], merge))
        taken.update(indices.values())
    stacks = [(path, spec, tensors) for path, (spec, tensors) in layers.items() if path not in taken]
    for parent, paths, merge in runs:
        spec = layers[paths[0]][0]
        tensors = tuple(tensor for path in paths for tensor in layers[path][1])
        if len(paths) == 1:
            stacks.append((paths[0], spec, tensors))
            continue
        start, end = (int(path.rpartition(".")[2]) for path in (paths[0], paths[-1]))
        whole = len(paths) == len(items[parent])
        name = parent if whole and parent else f"{parent}[{start}:{end + 1}]"
        stacks.append((name, spec.replace(num_layers=len(paths), merge_mode=merge), tensors))
    return stacks


def _link(before: Spec, after: Spec, merge: MergeMode | None) -> MergeMode | None:
    """The merge under which layer ``after`` continues ``before``'s stack (``merge``, when the
    stack already has one), or None when it does not: the same cell, sizes and directions, and
    the input the features ``before`` hands on (a bidirectional layer's concatenation, ``2H``,
    or a merge that keeps ``H``: sum, mul or ave, whose weights are the same)."""
    same = (after.cell, after.hidden_size, after.bidirectional) == (
        before.cell,
        before.hidden_size,
        before.bidirectional,
    )
    if not same:
        return None
    if not before.bidirectional:
        return MergeMode.CONCAT if after.input_size == before.hidden_size else None
    found = {2 * before.hidden_size: MergeMode.CONCAT, before.hidden_size: MergeMode.SUM}.get(
        after.input_size or 0
    )
    return found if merge is None or found is merge else None


def _assumed(spec: Spec) -> tuple[str, ...]:
    """What the weights leave open and was assumed."""
    notes = []
    if spec.cell is Cell.RNN:
        notes.append("nonlinearity (tanh or relu) is not recorded in the weights; tanh assumed")
    if spec.bidirectional and (spec.num_layers == 1 or spec.merge_mode is not MergeMode.CONCAT):
        merge = "concat" if spec.num_layers == 1 else "sum (or mul, ave: the weights are the same)"
        notes.append(f"how the two directions merge is not recorded in the weights; {merge} assumed")
    return tuple(notes)
