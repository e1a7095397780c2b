"""Which reader a file needs: by its extension, else by its first bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from rnncalc.io.tensors import FileContents, WeightFileError

#: Extension → reader name. ``.bin`` is what Hugging Face calls a ``torch.save``d state dict.
EXTENSIONS = {
    ".safetensors": "safetensors",
    ".pt": "torch",
    ".pth": "torch",
    ".bin": "torch",
    ".ckpt": "torch",
    ".keras": "keras",
    ".h5": "keras_h5",
    ".hdf5": "keras_h5",
    ".onnx": "onnx",
    ".json": "keras_json",
}
#: First bytes → reader name, for files whose extension says nothing.
MAGIC = ((b"\x89HDF\r\n\x1a\n", "keras_h5"), (b"PK\x03\x04", "zip"), (b"{", "keras_json"))


def read_file(path: str) -> FileContents:
    """The contents of the weight file at ``path``, read by the reader its format needs."""
    if not Path(path).is_file():
        raise WeightFileError(path, "no such file" if not Path(path).exists() else "not a regular file")
    kind = EXTENSIONS.get(Path(path).suffix.lower()) or _sniff(path)
    return READERS[kind](path)


def _sniff(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    for magic, kind in MAGIC:
        if head.startswith(magic):
            if kind == "zip":
                import zipfile

                try:
                    with zipfile.ZipFile(path) as archive:
                        return "keras" if "config.json" in archive.namelist() else "torch"
                except zipfile.BadZipFile as error:
                    raise WeightFileError(path, f"not a readable zip archive: {error}") from None
            return kind
    if len(head) == 8 and int.from_bytes(head, "little") < 100_000_000:
        return "safetensors"  # an 8-byte little-endian header length comes first
    known = ", ".join(sorted(EXTENSIONS))
    raise WeightFileError(path, f"unknown file type; rnncalc inspect reads {known}")


def _read_safetensors(path: str) -> FileContents:
    from rnncalc.io.safetensors_header import read_safetensors

    return read_safetensors(path)


def _read_torch(path: str) -> FileContents:
    from rnncalc.io.state_dict import read_state_dict

    return read_state_dict(path)


def _read_keras(path: str) -> FileContents:
    from rnncalc.io.keras_file import read_keras_archive

    return read_keras_archive(path)


def _read_keras_h5(path: str) -> FileContents:
    from rnncalc.io.keras_file import read_keras_h5

    return read_keras_h5(path)


def _read_onnx(path: str) -> FileContents:
    from rnncalc.io.onnx_file import read_onnx

    return read_onnx(path)


def _read_keras_json(path: str) -> FileContents:
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise WeightFileError(path, f"not a Keras model JSON: {error}") from None
    if not isinstance(config, dict):
        raise WeightFileError(path, "not a Keras model JSON: the document is not an object")
    return FileContents(format="keras json", convention="keras", tensors=(), config=config)


READERS: dict[str, Callable[[str], FileContents]] = {
    "safetensors": _read_safetensors,
    "torch": _read_torch,
    "keras": _read_keras,
    "keras_h5": _read_keras_h5,
    "onnx": _read_onnx,
    "keras_json": _read_keras_json,
}
