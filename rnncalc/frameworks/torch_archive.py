"""PyTorch archives that carry code, read without running any of it: TorchScript
(``torch.jit.save``) and ``torch.export`` (``torch.export.save``, ``.pt2``) files.

``torch.jit.load`` and ``torch.export.load`` compile and run the code an archive carries (and
``torch.load`` hands a TorchScript archive to ``torch.jit.load``). This module reads the same
archives as data, with the standard library only:

- **TorchScript** (torch/csrc/jit/serialization/export_module.cpp): a zip of one folder holding
  ``data.pkl`` (the module tree, pickled: each module an object of class
  ``__torch__.<qualified name>`` whose state is its attributes, each tensor
  ``torch._utils._rebuild_tensor_v2`` of a storage ``("storage", torch.FloatStorage, key,
  device, numel)`` whose bytes are the record ``data/<key>``), ``constants.pkl`` and
  ``code/__torch__/...py``, the modules' TorchScript source. The pickle is read by
  :class:`_ArchiveUnpickler`, whose allow-list maps every name it may refer to onto a stand-in
  of this module's (a module class becomes a :class:`ScriptObject`, a tensor a
  :class:`StoredTensor`): nothing the archive names is imported or called. The source is read
  as text, for the constants ``nn.RNN``/``LSTM``/``GRU`` declare ``Final``
  (``mode : Final[str] = "RNN_RELU"``, ``hidden_size``, ...) and for the recurrent operator a
  traced module's ``forward`` calls (``torch.rnn_relu(...)``).
- **torch.export** (torch/export/pt2_archive/_package.py): a zip of one folder holding
  ``archive_format`` (``pt2``), ``models/<name>.json`` (the exported program: its graph's nodes
  name the recurrent operator, its arguments and ``nn_module_stack``, the module path and
  type), ``data/weights/<name>_weights_config.json`` (each state-dict entry's record, dtype,
  sizes, strides, storage offset) and the records ``data/weights/<path>`` of raw bytes.

Every record a tensor refers to must be in the archive and hold the bytes its sizes, strides
and offset reach; the pickle and JSON documents have size limits.
"""

from __future__ import annotations

import ast
import io
import json
import math
import pickle
import re
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rnncalc.io.tensors import FileContents, Tensor, WeightFileError
from rnncalc.io.zip_guard import open_zip, read_member

#: ``data.pkl`` of a module tree is kilobytes (tensors are records of their own); a JSON
#: document of an exported program, megabytes; a bound keeps a hostile one from filling memory.
MAX_PICKLE_BYTES = 100_000_000
MAX_JSON_BYTES = 200_000_000
#: One module's TorchScript source file is read (as text) up to this size.
MAX_CODE_BYTES = 16_000_000
#: The module tree is walked to this depth at most.
MAX_DEPTH = 200

#: Bytes per element and name of each storage class TorchScript pickles (torch/storage.py).
STORAGE_DTYPES: dict[str, tuple[str, int]] = {
    "FloatStorage": ("float32", 4), "DoubleStorage": ("float64", 8), "HalfStorage": ("float16", 2),
    "BFloat16Storage": ("bfloat16", 2), "LongStorage": ("int64", 8), "IntStorage": ("int32", 4),
    "ShortStorage": ("int16", 2), "CharStorage": ("int8", 1), "ByteStorage": ("uint8", 1),
    "BoolStorage": ("bool", 1),
}  # fmt: skip
#: torch.export's ``ScalarType`` numbers (torch/_export/serde/schema.py) → dtype name and size.
EXPORT_DTYPES: dict[int, tuple[str, int]] = {
    1: ("uint8", 1), 2: ("int8", 1), 3: ("int16", 2), 4: ("int32", 4), 5: ("int64", 8),
    6: ("float16", 2), 7: ("float32", 4), 8: ("float64", 8), 12: ("bool", 1), 13: ("bfloat16", 2),
}  # fmt: skip
#: ATen's recurrent operators (aten/src/ATen/native/RNN.cpp) → the module type and, for the
#: Elman RNN, the nonlinearity the operator applies.
RECURRENT_OPS: dict[str, tuple[str, str | None]] = {
    "lstm": ("torch.nn.modules.rnn.LSTM", None),
    "gru": ("torch.nn.modules.rnn.GRU", None),
    "rnn_tanh": ("torch.nn.modules.rnn.RNN", "tanh"),
    "rnn_relu": ("torch.nn.modules.rnn.RNN", "relu"),
}
#: ``RNNBase.mode`` (torch/nn/modules/rnn.py) → the nonlinearity of an Elman RNN.
MODE_NONLINEARITY = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}
#: What the archive may record of a recurrent module, and the spec field each names.
RECORDED_FIELDS = (
    "input_size", "hidden_size", "num_layers", "bias", "batch_first", "bidirectional", "proj_size",
    "nonlinearity",
)  # fmt: skip


@dataclass(frozen=True)
class StoredTensor:
    """A tensor as an archive stores it: a strided view of a record's bytes."""

    record: str
    dtype: str
    itemsize: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    offset: int

    @property
    def extent(self) -> int:
        """Elements of the record the view reaches (0 for an empty tensor)."""
        if 0 in self.shape:
            return 0
        return (
            self.offset
            + 1
            + sum((size - 1) * step for size, step in zip(self.shape, self.stride, strict=True))
        )


@dataclass(frozen=True)
class TorchArchive:
    """What an archive holds: its tensors by state-dict name, and what it records of each module
    (its path → ``{"type": "torch.nn.modules.rnn.LSTM", "hidden_size": 8, ...}``)."""

    tensors: Mapping[str, StoredTensor]
    modules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def contents(self) -> FileContents:
        return FileContents(
            tensors=tuple(Tensor(name, found.shape, found.dtype) for name, found in self.tensors.items()),
            modules=self.modules,
            notes=self.notes,
        )


def archive_root(members: set[str] | list[str], marker: str) -> str | None:
    """The one folder of a PyTorch archive whose ``marker`` member it has (``constants.pkl``),
    as ``folder/``; None when it has none."""
    roots = {name[: -len(marker)] for name in members if name.endswith("/" + marker)}
    found = [root for root in roots if root.count("/") == 1]
    return found[0] if len(found) == 1 else None


def is_torchscript(members: set[str]) -> bool:
    """A TorchScript archive: ``data.pkl``, ``constants.pkl`` and a ``code/`` folder in one folder."""
    root = archive_root(members, "constants.pkl")
    return (
        root is not None
        and root + "data.pkl" in members
        and any(n.startswith(root + "code/") for n in members)
    )


def is_pt2(members: set[str]) -> bool:
    """A ``torch.export`` archive: an ``archive_format`` record in its one folder."""
    return archive_root(members, "archive_format") is not None


def read_torchscript(path: str) -> FileContents:
    return torchscript_archive(path).contents()


def read_pt2(path: str) -> FileContents:
    return pt2_archive(path).contents()


# --- TorchScript ---------------------------------------------------------------------------------


class ScriptObject:
    """Stands in for an object of a TorchScript class (``__torch__.M``): its qualified name and
    the state the pickle gives it, kept as data."""

    def __init__(self) -> None:
        raise TypeError("a TorchScript object is made by NEWOBJ only")

    qualified: str = ""

    def __setstate__(self, state: Any) -> None:
        self.state = state


@dataclass(frozen=True)
class _Storage:
    key: str
    dtype: str
    itemsize: int
    numel: int


@dataclass(frozen=True)
class _Rebuilt:
    """``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``, not called."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> _Rebuilt:
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor whose storage is not a persistent storage record")
    return _Rebuilt(storage, _natural(offset), tuple(map(_natural, size)), tuple(map(_natural, stride)))


def _rebuild_parameter(data: Any, *_: Any) -> Any:
    return data


def _identity(value: Any, *_: Any) -> Any:
    return value


class _StorageType:
    """Stands in for ``torch.FloatStorage`` and the others: the dtype it names."""

    def __init__(self, name: str) -> None:
        self.dtype, self.itemsize = STORAGE_DTYPES[name]


#: Every name TorchScript's pickle may refer to apart from its own classes, and its stand-in:
#: torch/csrc/jit/serialization/pickler.cpp writes tensors, typed lists and ordered dicts so.
ALLOWED: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): OrderedDict,
    ("torch.jit._pickle", "restore_type_tag"): _identity,
    **{("torch.jit._pickle", f"build_{kind}list"): _identity for kind in ("tensor", "int", "double", "bool")},
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class _ArchiveUnpickler(pickle.Unpickler):
    """Unpickles ``data.pkl`` into stand-ins (module docstring): ``find_class`` returns only
    :data:`ALLOWED` values and fresh :class:`ScriptObject` subclasses, so no name the archive
    gives is imported and nothing of its is called."""

    def __init__(self, data: bytes, where: str) -> None:
        super().__init__(io.BytesIO(data))
        self.where = where
        self.classes: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "__torch__" or module.startswith("__torch__."):
            qualified = f"{module}.{name}"
            if qualified not in self.classes:
                self.classes[qualified] = type(name, (ScriptObject,), {"qualified": qualified})
            return self.classes[qualified]
        if (module, name) in ALLOWED:
            return ALLOWED[module, name]
        raise _Refused(f"{self.where} refers to {module}.{name}, which rnncalc does not load")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {str(pid)[:60]}")
        _, kind, key, _, numel = pid
        if not isinstance(kind, _StorageType) or not isinstance(key, str):
            raise pickle.UnpicklingError("a storage record of unknown type")
        return _Storage(key, kind.dtype, kind.itemsize, _natural(numel))


class _Refused(Exception):
    """A pickle naming something outside the allow-list: its message is the refusal."""


def torchscript_archive(path: str) -> TorchArchive:
    """The tensors and modules of a TorchScript archive (module docstring)."""
    with open_zip(path) as archive:
        members = set(archive.namelist())
        root = archive_root(members, "constants.pkl")
        if root is None or root + "data.pkl" not in members:
            raise WeightFileError(
                path, "not a TorchScript archive: no data.pkl and constants.pkl in one folder"
            )
        tree = _unpickle(path, archive, root, "data.pkl")
        if not isinstance(tree, ScriptObject) or not isinstance(getattr(tree, "state", None), dict):
            raise WeightFileError(path, f"data.pkl holds a {type(tree).__name__}, not a TorchScript module")
        constants = _unpickle(path, archive, root, "constants.pkl")
        tensors: dict[str, StoredTensor] = {}
        modules: dict[str, dict[str, Any]] = {}
        for prefix, item in _walk(tree):
            module = {key: value for key, value in item.state.items() if isinstance(key, str)}
            for key, value in module.items():
                if isinstance(value, _Rebuilt):
                    tensors[prefix + key] = _stored(path, archive, root, value)
            modules[prefix.rstrip(".")] = _recorded_by_code(path, archive, root, item.qualified, module)
    held = [item for item in constants if isinstance(item, _Rebuilt)] if isinstance(constants, tuple) else []
    notes = (
        (f"constants.pkl holds {len(held)} constant tensors of the code "
         f"({sum(math.prod(item.shape) for item in held):,} values), not counted as parameters",)
        if held else ()
    )  # fmt: skip
    return TorchArchive(tensors, {name: found for name, found in modules.items() if found}, notes)


def _unpickle(path: str, archive: zipfile.ZipFile, root: str, member: str) -> Any:
    """A pickle of the archive read into stand-ins by :class:`_ArchiveUnpickler`."""
    data = read_member(path, archive, root + member, MAX_PICKLE_BYTES)
    try:
        return _ArchiveUnpickler(data, member).load()
    except _Refused as error:
        raise WeightFileError(path, f"{error}; it reads no code from the archive") from None
    except Exception as error:  # stand-ins only: any failure is a malformed pickle
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        raise WeightFileError(path, f"{member} is not a readable TorchScript pickle: {reason}") from None


def _walk(tree: Any) -> Iterator[tuple[str, Any]]:
    """Each module of the tree with its path prefix (``""``, ``"rnn."``), parents first."""
    seen: set[int] = set()
    stack: list[tuple[str, Any, int]] = [("", tree, 0)]
    while stack:
        prefix, item, depth = stack.pop()
        if id(item) in seen or depth > MAX_DEPTH:
            continue
        seen.add(id(item))
        yield prefix, item
        children = [
            (f"{prefix}{key}.", value, depth + 1)
            for key, value in item.state.items()
            if isinstance(key, str)
            and isinstance(value, ScriptObject)
            and isinstance(getattr(value, "state", None), dict)
        ]
        stack.extend(reversed(children))


def _stored(path: str, archive: zipfile.ZipFile, root: str, rebuilt: _Rebuilt) -> StoredTensor:
    storage = rebuilt.storage
    record = f"{root}data/{storage.key}"
    found = StoredTensor(
        record, storage.dtype, storage.itemsize, rebuilt.shape, rebuilt.stride, rebuilt.offset
    )
    _check_record(path, archive, found, storage.numel)
    return found


def _check_record(path: str, archive: zipfile.ZipFile, found: StoredTensor, numel: int | None) -> None:
    """The record must be there and hold every element the view reaches."""
    try:
        size = archive.getinfo(found.record).file_size
    except KeyError:
        raise WeightFileError(path, f"{found.record}: no such record in the archive") from None
    if numel is not None and size != numel * found.itemsize:
        raise WeightFileError(
            path, f"{found.record}: {size} bytes, not the {numel} elements its storage declares"
        )
    if math.prod(found.shape) * found.itemsize > size:  # a saved tensor's elements are its record's
        raise WeightFileError(
            path, f"{found.record}: sizes {list(found.shape)} hold more than its {size} bytes"
        )
    if len(found.shape) != len(found.stride) or found.extent * found.itemsize > size:
        raise WeightFileError(
            path, f"{found.record}: sizes {list(found.shape)}, strides {list(found.stride)} and offset "
            f"{found.offset} reach past its {size} bytes"
        )  # fmt: skip


#: ``name : Final[type] = value`` in a TorchScript class (how export_module writes constants).
FINAL = re.compile(r"^\s+(\w+) : Final\[[^\]]*\] = (.+)$", re.MULTILINE)
#: A call of an ATen recurrent operator in TorchScript source (``torch.rnn_relu(``).
OP_CALL = re.compile(r"\btorch\.(lstm|gru|rnn_tanh|rnn_relu)\(")


def _recorded_by_code(
    path: str, archive: zipfile.ZipFile, root: str, qualified: str, state: Mapping[str, Any]
) -> dict[str, Any]:
    """What a module of class ``qualified`` records of a recurrent layer: its type (the name
    without ``__torch__.`` and ``___torch_mangle_N``), the ``Final`` constants of its class
    source, its scalar attributes, the nonlinearity of the one operator its source calls."""
    parts = qualified.split(".")
    unmangled = ".".join(part for part in parts[1:] if not part.startswith("___torch_mangle_"))
    source = _class_source(path, archive, root + "code/" + "/".join(parts[:-1]) + ".py", parts[-1])
    recorded: dict[str, Any] = {}
    for name, literal in FINAL.findall(source):
        try:
            recorded[name] = ast.literal_eval(literal.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
    recorded.update(
        {key: value for key, value in state.items() if isinstance(value, (bool, int, float, str))}
    )
    operators = set(OP_CALL.findall(source))
    mode = recorded.get("mode")
    if isinstance(mode, str) and mode in MODE_NONLINEARITY:
        recorded.setdefault("nonlinearity", MODE_NONLINEARITY[mode])
    elif len(operators) == 1 and RECURRENT_OPS[next(iter(operators))][1] is not None:
        recorded.setdefault("nonlinearity", RECURRENT_OPS[next(iter(operators))][1])
    found = {key: recorded[key] for key in RECORDED_FIELDS if key in recorded}
    return {"type": unmangled, **found} if unmangled in RECURRENT_TYPES else {}


#: The module types whose record rnncalc reads (torch/nn/modules/rnn.py).
RECURRENT_TYPES = frozenset(f"torch.nn.modules.rnn.{name}" for name in ("RNN", "LSTM", "GRU"))


def _class_source(path: str, archive: zipfile.ZipFile, member: str, name: str) -> str:
    """The source of class ``name`` in the code file ``member`` (empty when there is none)."""
    try:
        info = archive.getinfo(member)
    except KeyError:
        return ""
    if info.file_size > MAX_CODE_BYTES:
        return ""
    text = read_member(path, archive, member, MAX_CODE_BYTES).decode("utf-8", "replace")
    start = re.search(rf"^class {re.escape(name)}\(", text, re.MULTILINE)
    if start is None:
        return ""
    end = re.search(r"^class ", text[start.end() :], re.MULTILINE)
    return text[start.start() : start.end() + end.start()] if end else text[start.start() :]


# --- torch.export --------------------------------------------------------------------------------


def pt2_archive(path: str) -> TorchArchive:
    """The state dict and recurrent modules of a ``torch.export.save`` archive (module docstring)."""
    with open_zip(path) as archive:
        members = set(archive.namelist())
        root = archive_root(members, "archive_format")
        if root is None:
            raise WeightFileError(path, "not a torch.export archive: no archive_format record")
        kind = read_member(path, archive, root + "archive_format", 64).strip()
        if kind != b"pt2":
            raise WeightFileError(path, f"archive_format: {kind[:20]!r}, not pt2")
        configs = sorted(
            name for name in members
            if name.startswith(root + "data/weights/") and name.endswith("_weights_config.json")
        )  # fmt: skip
        if not configs:
            raise WeightFileError(path, "a torch.export archive without data/weights/*_weights_config.json")
        tensors: dict[str, StoredTensor] = {}
        modules: dict[str, Mapping[str, Any]] = {}
        for config in configs:
            model = config.rsplit("/", 1)[1].removesuffix("_weights_config.json")
            prefix = f"{model}." if len(configs) > 1 else ""
            for name, found in _pt2_weights(path, archive, root, config).items():
                tensors[prefix + name] = found
            program = f"{root}models/{model}.json"
            if program in members:
                document = _json(path, archive, program)
                for module, recorded in _pt2_modules(document).items():
                    modules[prefix + module] = recorded
    return TorchArchive(tensors, modules)


def _pt2_weights(path: str, archive: zipfile.ZipFile, root: str, config: str) -> dict[str, StoredTensor]:
    """``data/weights/<model>_weights_config.json``: each state-dict entry's record and layout
    (torch/export/pt2_archive/_package.py, ``_package_state_dict``)."""
    document = _json(path, archive, config)
    entries = document.get("config") if isinstance(document, Mapping) else None
    if not isinstance(entries, Mapping):
        raise WeightFileError(path, f"{config}: no config object")
    tensors: dict[str, StoredTensor] = {}
    for name, entry in entries.items():
        where = f"{config}: {name}"
        try:
            meta = entry["tensor_meta"]
            if entry.get("use_pickle"):
                raise WeightFileError(path, f"{where}: a pickled tensor, which rnncalc does not unpickle")
            dtype, itemsize = EXPORT_DTYPES[meta["dtype"]]
            shape = tuple(_natural(size["as_int"]) for size in meta["sizes"])
            stride = tuple(_natural(step["as_int"]) for step in meta["strides"])
            offset = _natural(meta["storage_offset"]["as_int"])
            record = f"{root}data/weights/{entry['path_name']}"
        except WeightFileError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError):
            raise WeightFileError(
                path, f"{where}: not a tensor entry this reader knows (dtype, sizes, strides)"
            ) from None
        if "/" in record.removeprefix(root + "data/weights/"):
            raise WeightFileError(path, f"{where}: path_name {entry['path_name']!r} is not a record name")
        found = StoredTensor(record, dtype, itemsize, shape, stride, offset)
        _check_record(path, archive, found, None)
        tensors[name] = found
    return tensors


def _pt2_modules(document: Any) -> dict[str, Mapping[str, Any]]:
    """Each recurrent operator of an exported program's graph, by the module path its
    ``nn_module_stack`` names (``L__self__rnn,rnn,torch.nn.modules.rnn.RNN``): the module's type,
    the nonlinearity of the operator and its arguments (``num_layers``, ``bidirectional``, ...)."""
    try:
        nodes = document["graph_module"]["graph"]["nodes"]
    except (KeyError, TypeError):
        return {}
    modules: dict[str, Mapping[str, Any]] = {}
    for node in nodes if isinstance(nodes, list) else ():
        try:
            found = _recurrent_node(node)
        except (AttributeError, TypeError, IndexError):  # a node of another shape: not ours
            continue
        if found is not None:
            modules[found[0]] = found[1]
    return modules


def _recurrent_node(node: Any) -> tuple[str, dict[str, Any]] | None:
    """The module path and record of one graph node calling a recurrent operator, else None."""
    target = node.get("target")
    operator = re.fullmatch(r"torch\.ops\.aten\.(\w+)\.\w+", target) if isinstance(target, str) else None
    if operator is None or operator[1] not in RECURRENT_OPS:
        return None
    stack = (node.get("metadata") or {}).get("nn_module_stack")
    last = stack.split(";")[-1].split(",") if isinstance(stack, str) else []
    if len(last) < 3 or last[-1] not in RECURRENT_TYPES:
        return None
    recorded: dict[str, Any] = {"type": last[-1]}
    if RECURRENT_OPS[operator[1]][1] is not None:
        recorded["nonlinearity"] = RECURRENT_OPS[operator[1]][1]
    for argument in node.get("inputs") or ():
        value = argument.get("arg") or {}
        field_name = {"has_biases": "bias"}.get(argument.get("name"), argument.get("name"))
        scalar = value.get("as_int", value.get("as_bool"))
        if field_name in RECORDED_FIELDS and isinstance(scalar, (int, bool)):
            recorded[field_name] = scalar
    return last[1], recorded


# --- shared --------------------------------------------------------------------------------------


def _json(path: str, archive: zipfile.ZipFile, member: str) -> Any:
    try:
        return json.loads(read_member(path, archive, member, MAX_JSON_BYTES))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise WeightFileError(path, f"{member}: not JSON: {error}") from None


def _natural(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{value!r} is not a size")
    return value


# --- values, for convert -------------------------------------------------------------------------


def record_reader(path: str, archive: TorchArchive) -> tuple[Callable[[str], Any], Callable[[str], Any]]:
    """``read(name)``: the tensor as a float32 numpy array, a view of the file's mapping when its
    record is stored and its values are float32 (:func:`rnncalc.io.mapped.mapped`), else a copy;
    and ``view(name)``: that mapped view, or None."""
    import numpy as np

    from rnncalc.io.keras_file import stored_member_start
    from rnncalc.io.mapped import mapped

    with open_zip(path) as zip_file:
        infos = {info.filename: info for info in zip_file.infolist()}
    numpy_dtypes = {"float32": "<f4", "float64": "<f8", "float16": "<f2", "bfloat16": "<u2"}

    def strided(name: str, stored_only: bool) -> Any:
        found = archive.tensors[name]
        if found.dtype not in numpy_dtypes:
            raise WeightFileError(
                path, f"tensor {name!r} is {found.dtype}, not a float type convert can move"
            )
        info = infos[found.record]
        start = stored_member_start(path, info)
        dtype = np.dtype(numpy_dtypes[found.dtype])
        count = info.file_size // dtype.itemsize
        if start is None and stored_only:
            return None
        if not count or not found.extent:
            return np.zeros(found.shape, dtype=dtype)
        storage: Any
        if start is not None:
            storage = np.memmap(path, dtype=dtype, mode="r", offset=start, shape=(count,))
        else:
            # A compressed record (torch writes them stored): only the bytes the view reaches.
            with open_zip(path) as again, again.open(info) as handle:
                reached = handle.read(found.extent * dtype.itemsize)
            storage = np.frombuffer(reached, dtype=dtype)
        return np.lib.stride_tricks.as_strided(
            storage[found.offset :],
            shape=found.shape,
            strides=tuple(step * dtype.itemsize for step in found.stride),
            writeable=False,
        )

    def view(name: str) -> Any:
        found = strided(name, stored_only=True)
        usable = found is not None and found.dtype == np.float32 and found.flags.c_contiguous and found.size
        return mapped(found) if usable else None

    def read(name: str) -> Any:
        mapped_view = view(name)
        if mapped_view is not None:
            return mapped_view
        values = strided(name, stored_only=False)
        if values.dtype == np.uint16:  # bfloat16: the top half of a float32
            return (values.astype(np.uint32) << 16).view(np.float32)
        return values.astype(np.float32)

    return read, view
