"""PyTorch's weight files: ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (and their cells) in state dicts
and safetensors files, found by their parameter names and sized by their shapes.

Imported by :class:`~rnncalc.frameworks.torch.TorchConvention`'s file methods only, so that
importing the registry stays cheap.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rnncalc.core.spec import Cell
from rnncalc.frameworks.inspection import GATES, Found, expected_weights, layer_for, spec_or_none
from rnncalc.io.tensor_data import TensorData, TensorFormat
from rnncalc.io.tensors import FileContents, Tensor, WeightFileError, require_module
from rnncalc.io.weight_format import ZIP_MAGIC, WeightFormat, zip_members

if TYPE_CHECKING:
    from rnncalc.frameworks.writing import Pairs, Plan

#: What ``torch.load`` needs, in the words of a missing-package error.
TORCH_HINT = "pip install 'rnncalc[torch]' (or pip install torch)"


def weight_formats() -> tuple[WeightFormat, ...]:
    """Safetensors (header only, no library) and ``torch.save``d state dicts; ``.bin`` is what
    Hugging Face calls a ``torch.save``d state dict. A state dict saved in the zip format (the
    default since PyTorch 1.6) is told from a ``.keras`` archive by its lack of ``config.json``."""
    from rnncalc.io.safetensors_header import looks_like_safetensors, read_safetensors

    return (
        WeightFormat("safetensors", "safetensors file", (".safetensors",), read_safetensors,
                     sniff=looks_like_safetensors),
        WeightFormat("pytorch state dict", "PyTorch state dict", (".pt", ".pth", ".bin", ".ckpt"),
                     _read_state_dict, magic=ZIP_MAGIC, sniff=_is_state_dict_zip),
        *archive_formats(),
    )  # fmt: skip


def _is_state_dict_zip(path: str, head: bytes) -> bool:
    """A zip that is neither a ``.keras`` archive nor a PyTorch archive carrying code."""
    from rnncalc.frameworks.torch_archive import is_pt2, is_torchscript

    members = zip_members(path)
    return "config.json" not in members and not is_torchscript(members) and not is_pt2(members)


def _read_state_dict(path: str) -> FileContents:
    from rnncalc.io.state_dict import read_state_dict

    return read_state_dict(path, require_module("torch", TORCH_HINT, path))


#: PyTorch's parameter names in ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (torch/nn/modules/rnn.py,
#: ``RNNBase.__init__``): ``{kind}_l{layer}`` plus ``_reverse`` for the backward direction.
TORCH_NAME = re.compile(
    r"^(?P<prefix>(?:.*\.)?)(?P<kind>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)"
    r"(?P<suffix>_l\d+(?:_reverse)?)$"
)
#: ``nn.RNNCell``/``nn.LSTMCell``/``nn.GRUCell`` name the same tensors without the suffix
#: (torch/nn/modules/rnn.py, ``RNNCellBase.__init__``): one step of a 1-layer stack.
TORCH_CELL_NAME = re.compile(r"^(?P<prefix>(?:.*\.)?)(?P<kind>weight_ih|weight_hh|bias_ih|bias_hh)$")


def find_layers(file: str, contents: FileContents) -> Found:
    """Group ``*weight_ih_l0``-style names by their prefix; each group is one nn.RNN/LSTM/GRU,
    with what an archive carrying code records of the module at that prefix (its nonlinearity)."""
    groups: dict[tuple[str, bool], dict[str, Tensor]] = defaultdict(dict)
    for tensor in contents.tensors:
        match = TORCH_NAME.match(tensor.name)
        if match:
            groups[match["prefix"], False][match["kind"] + match["suffix"]] = tensor
            continue
        match = TORCH_CELL_NAME.match(tensor.name)
        if match:  # named as the stack's layer 0, so that one set of rules reads both
            groups[match["prefix"], True][match["kind"] + "_l0"] = tensor
    layers, notes = [], []
    for (prefix, is_cell), named in groups.items():
        label = prefix.rstrip(".") or "(top level)"
        fields, why = _torch_fields(named)
        recorded = contents.modules.get(prefix.rstrip("."), {})
        recorded_notes = _apply_recorded(fields, recorded) if fields and recorded else ()
        spec = spec_or_none(fields) if fields else None
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
        layer_notes: tuple[str, ...] = recorded_notes
        if is_cell:
            layer_notes += (
                f"an nn.{spec.cell.name}Cell: one step of a 1-layer nn.{spec.cell.name}, "
                "whose weights are the same without the _l0 suffix",
            )
        if spec.cell is Cell.RNN and "nonlinearity" not in recorded:
            layer_notes += ("nonlinearity (tanh or relu) is not recorded in the weights; tanh assumed",)
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
    bidirectional = any(name.endswith("_reverse") for name in named)
    inputs = sum(name.startswith("weight_ih_l") for name in named)
    if inputs != layers * (2 if bidirectional else 1):
        # Checked before the spec is analysed: a name such as weight_ih_l99999999 alone must
        # not make rnncalc describe a hundred million layers.
        return None, f"{inputs} weight_ih tensors for {layers} layers"
    return {
        "cell": GATES[rows // hidden],
        "hidden_size": hidden,
        "input_size": first_ih.shape[1],
        "num_layers": layers,
        "bidirectional": bidirectional,
        "bias": "bias_ih_l0" in named,
        "proj_size": proj_size,
    }, None


def _apply_recorded(fields: dict[str, Any], recorded: Mapping[str, Any]) -> tuple[str, ...]:
    """Set in ``fields`` what the archive records and the shapes cannot say (an RNN's
    nonlinearity, ``batch_first``); say where a recorded size differs from the shapes (which
    are kept: they are what the archive holds)."""
    notes = []
    kind = str(recorded.get("type", "")).rsplit(".", 1)[-1]
    if kind and kind != fields["cell"].name:
        notes.append(
            f"the archive names the module {recorded['type']}, "
            f"but its tensors are an nn.{fields['cell'].name}'s"
        )
    for name, value in recorded.items():
        if name == "nonlinearity" and fields["cell"] is Cell.RNN and value in ("tanh", "relu"):
            fields["nonlinearity"] = value
        elif name == "batch_first" and isinstance(value, bool):
            fields["batch_first"] = value
        elif name in fields and fields[name] != value:
            notes.append(f"the archive records {name}={value!r}, the tensors {fields[name]!r}")
    return tuple(notes)


# --- rnncalc convert: tensor values in and out ---------------------------------------------------


def tensor_formats() -> tuple[TensorFormat, ...]:
    """``torch.save``d state dicts and safetensors files, read and written (``--to torch``,
    ``--to safetensors``); safetensors is written by the standard-library writer of
    :mod:`rnncalc.frameworks.writing`, so it needs neither torch nor the safetensors package."""
    from rnncalc.io.tensor_data import open_safetensors

    return (
        TensorFormat("pytorch state dict", "PyTorch state dict (torch.save)", (".pt", ".pth", ".bin"),
                     open_state_dict, target="torch", write=write_state_dict),
        TensorFormat("safetensors", "PyTorch state dict (safetensors)", (".safetensors",),
                     open_safetensors, target="safetensors", write=_write_safetensors),
        TensorFormat(SHARDED, "sharded safetensors (model.safetensors.index.json)", (),
                     _open_sharded),
        TensorFormat(TORCHSCRIPT, "TorchScript archive (torch.jit.save)", (),
                     lambda path: _open_archive(path, TORCHSCRIPT)),
        TensorFormat(EXPORT, "torch.export archive (.pt2)", (),
                     lambda path: _open_archive(path, EXPORT)),
    )  # fmt: skip


def open_state_dict(path: str) -> TensorData:
    """A ``torch.save``d state dict's tensors as numpy arrays (float16, float32, float64; bfloat16
    as float32): a file in the zip format is memory-mapped (``torch.load(mmap=True)``), so its
    pages can be released tensor by tensor. A tensor that is not dense floating point values
    (sparse, quantized, meta, complex, integer...) is refused by name."""
    from rnncalc.io.mapped import mapped as mapped_array
    from rnncalc.io.state_dict import load_state_dict, state_dict_in, tensor_dtype
    from rnncalc.io.tensor_data import dtype_refusal

    torch = require_module("torch", TORCH_HINT, path)
    loaded, mapped = load_state_dict(path, torch)
    state, _ = state_dict_in(path, loaded, torch.Tensor)
    floats = (torch.float16, torch.float32, torch.float64, torch.bfloat16)

    def read(name: str) -> Any:
        tensor = state[name].detach()
        dtype = tensor_dtype(tensor, torch)
        if tensor.dtype not in floats or dtype_refusal(dtype) or tensor.is_nested:
            raise WeightFileError(path, f"tensor {name!r} {dtype_refusal(dtype) or 'is nested'}")
        if tensor.dtype == torch.float32 and mapped and tensor.is_contiguous():
            return mapped_array(tensor.numpy())
        if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds it exactly
            tensor = tensor.float()
        return tensor.numpy()

    def mapped_view(name: str) -> Any:
        """The tensor's view of the file mapping (None for a dtype numpy cannot view)."""
        tensor = state[name].detach()
        numpy_floats = (torch.float16, torch.float32, torch.float64)
        return (
            tensor.numpy()
            if tensor.dtype in numpy_floats and not dtype_refusal(tensor_dtype(tensor, torch))
            else None
        )

    return TensorData(list(state), read, lambda: None, mapped_view if mapped else None)


def write_state_dict(plan: Plan, pairs: Pairs, path: str) -> None:
    """The file ``torch.save`` writes for the state dict ``load_state_dict(strict=True)``
    accepts, written one tensor at a time (:mod:`rnncalc.frameworks.torch_zip`)."""
    from rnncalc.frameworks.torch_zip import write_torch_zip
    from rnncalc.frameworks.writing import checked, target_rows

    write_torch_zip(target_rows(plan), checked(plan, pairs), path)


def _write_safetensors(plan: Plan, pairs: Pairs, path: str) -> None:
    from rnncalc.frameworks.writing import write_safetensors

    write_safetensors(plan, pairs, path)


# --- archives carrying code, sharded safetensors -------------------------------------------------

SHARDED, TORCHSCRIPT, EXPORT = "sharded safetensors", "torchscript", "torch.export"


def archive_formats() -> tuple[WeightFormat, ...]:
    """Hugging Face's sharded safetensors (the index file, or its directory), TorchScript and
    ``torch.export`` archives, each read as data: no code of theirs runs
    (:mod:`rnncalc.frameworks.torch_archive`, :mod:`rnncalc.io.safetensors_index`)."""
    from rnncalc.frameworks.torch_archive import is_pt2, is_torchscript, read_pt2, read_torchscript
    from rnncalc.io.safetensors_index import (
        INDEX_SUFFIX,
        is_index_directory,
        looks_like_index,
        read_safetensors_index,
    )

    return (
        WeightFormat(SHARDED, "sharded safetensors checkpoint", (INDEX_SUFFIX,), read_safetensors_index,
                     magic=b"{", sniff=looks_like_index, holds=is_index_directory),
        WeightFormat(TORCHSCRIPT, "TorchScript archive", (), read_torchscript, magic=ZIP_MAGIC,
                     sniff=lambda path, head: is_torchscript(zip_members(path))),
        WeightFormat(EXPORT, "torch.export archive", (".pt2",), read_pt2, magic=ZIP_MAGIC,
                     sniff=lambda path, head: is_pt2(zip_members(path))),
    )  # fmt: skip


def _open_sharded(path: str) -> TensorData:
    from rnncalc.io.safetensors_index import open_safetensors_index

    return open_safetensors_index(path)


def _open_archive(path: str, kind: str) -> TensorData:
    """A TorchScript or ``torch.export`` archive's tensors, read from their records."""
    from rnncalc.frameworks.torch_archive import pt2_archive, record_reader, torchscript_archive

    archive = (torchscript_archive if kind == TORCHSCRIPT else pt2_archive)(path)
    read, view = record_reader(path, archive)
    return TensorData(list(archive.tensors), read, lambda: None, view)
