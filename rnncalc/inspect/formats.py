"""Which reader a file needs: the registry's weight formats, by extension, else by first bytes;
a directory by what it contains.

Every :class:`~rnncalc.core.convention.Convention` lists the formats whose tensors follow its
names (:meth:`~rnncalc.core.convention.Convention.weight_formats`); this module only chooses
among them. A format no convention reads is named, with what would read it
(:data:`UNSUPPORTED`), rather than called unknown.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, replace

from rnncalc.io.tensors import FileContents, WeightFileError
from rnncalc.io.weight_format import ZIP_MAGIC, WeightFormat, zip_members


def weight_formats() -> tuple[WeightFormat, ...]:
    """Every format some registered convention reads, in registry order."""
    from rnncalc.frameworks import CONVENTIONS

    return tuple(found for convention in CONVENTIONS for found in convention.weight_formats())


def format_title(name: str) -> str:
    """How a heading names the format called ``name`` ("Keras 3 .keras file"); the name itself
    for a format no convention declares."""
    return next((found.title for found in weight_formats() if found.name == name), name)


def read_file(path: str) -> FileContents:
    """The contents of the weight file (or checkpoint directory) at ``path``, read by the reader
    its format needs."""
    chosen = choose_format(path)
    return replace(chosen.read(path), format=chosen.name)


@dataclass(frozen=True)
class Unsupported:
    """A format rnncalc recognises but reads with no convention: ``what`` it is and ``reader``,
    what would read it (or what to save instead). Told by a suffix, by ``magic`` at ``offset``,
    by zip ``members`` ending so, or (a directory) by one of the files it ``holds``."""

    what: str
    reader: str
    suffixes: tuple[str, ...] = ()
    magic: bytes = b""
    offset: int = 0
    members: str = ""
    holds: tuple[str, ...] = ()

    def message(self) -> str:
        return f"{self.what}: rnncalc does not read it; {self.reader}"


#: Formats people meet beside the ones rnncalc reads; magic numbers from each format's spec
#: (TFLite's FlatBuffer identifier ``TFL3`` at byte 4, GGUF's ``GGUF`` at byte 0).
UNSUPPORTED = (
    Unsupported("a TensorFlow SavedModel",
                "tf.saved_model.load reads it; rnncalc reads the Keras model saved as .keras",
                suffixes=(".pb",), holds=("saved_model.pb", "saved_model.pbtxt")),
    Unsupported("a TensorFlow checkpoint (tf.train.Checkpoint)",
                "tf.train.load_checkpoint reads it; rnncalc reads the Keras model saved as .keras",
                suffixes=(".index",), holds=("checkpoint",)),
    Unsupported("a TensorFlow Lite model",
                "tf.lite.Interpreter runs it; rnncalc reads the model it was converted from",
                suffixes=(".tflite",), magic=b"TFL3", offset=4),
    Unsupported("a GGUF file (llama.cpp)",
                "the gguf package reads it; rnncalc reads PyTorch, Keras, Flax and ONNX files",
                suffixes=(".gguf",), magic=b"GGUF"),
    Unsupported("a NumPy archive (numpy.savez)",
                "numpy.load reads it; save the arrays with their framework's names as .safetensors "
                "(safetensors.numpy.save_file) for rnncalc",
                suffixes=(".npz",), members=".npy"),
)  # fmt: skip


def choose_format(path: str) -> WeightFormat:
    """The format of the weight file at ``path``: by its suffix (the longest that matches, in any
    case), else by its first bytes; a file whose suffix's format shares its magic number with
    others is read as the first of them its content matches (a TorchScript archive named
    ``.pt``); a directory by what it contains (a sharded checkpoint, an Orbax checkpoint).
    Anything else is refused naming what it is."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        reason = "no such file" if not os.path.lexists(path) else error.strerror
        raise WeightFileError(path, reason or str(error)) from None
    formats = weight_formats()
    if stat.S_ISDIR(mode):
        return _directory_format(path, formats)
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise WeightFileError(
            path, f"{kind}, not a weight file; rnncalc reads files and checkpoint directories"
        )
    name = os.path.basename(path).lower()
    by_suffix = sorted(
        (found for found in formats if any(name.endswith(suffix) for suffix in found.suffixes)),
        key=lambda found: -max(len(suffix) for suffix in found.suffixes if name.endswith(suffix)),
    )
    if by_suffix:
        return _by_content(path, by_suffix[0], formats)
    unsupported = next(
        (known for known in UNSUPPORTED if any(name.endswith(suffix) for suffix in known.suffixes)), None
    )
    if unsupported is not None:
        raise WeightFileError(path, unsupported.message())
    return _sniff(path, formats)


def _directory_format(path: str, formats: tuple[WeightFormat, ...]) -> WeightFormat:
    """The format whose ``holds`` recognises the directory (an Orbax checkpoint, ...), else the
    unsupported format its files say, else a refusal naming the directories rnncalc reads."""
    found = next((found for found in formats if found.holds is not None and found.holds(path)), None)
    if found is not None:
        return found
    for known in UNSUPPORTED:
        if any(os.path.isfile(os.path.join(path, name)) for name in known.holds):
            raise WeightFileError(path, known.message())
    readable = ", ".join(found.title for found in formats if found.holds is not None)
    raise WeightFileError(
        path,
        f"a directory rnncalc does not read; it reads {readable} directories and {_known(formats)} files",
    )


def _by_content(path: str, chosen: WeightFormat, formats: tuple[WeightFormat, ...]) -> WeightFormat:
    """``chosen``, unless its sniff rejects the file (or it has none) and the sniff of another
    format with the same magic number accepts it."""
    if not chosen.magic:
        return chosen
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    if not head.startswith(chosen.magic) or _accepts(chosen, path, head):
        return chosen
    others = (found for found in formats if found.magic == chosen.magic and found is not chosen)
    return next(
        (found for found in others if found.sniff is not None and _accepts(found, path, head)), chosen
    )


def _accepts(found: WeightFormat, path: str, head: bytes) -> bool:
    """True when ``found``'s sniff accepts the file; a file its sniff cannot read is left to
    the reader of the format its suffix names, whose error says why."""
    try:
        return found.sniff is not None and found.sniff(path, head)
    except WeightFileError:
        return False


def _sniff(path: str, formats: tuple[WeightFormat, ...]) -> WeightFormat:
    """The format whose first bytes the file starts with; formats with a magic number are tried
    before those recognised by a guess (a safetensors header length)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    for known in UNSUPPORTED:  # first: an archive of .npy files is a zip, as a PyTorch file is
        if known.magic and head[known.offset :].startswith(known.magic):
            raise WeightFileError(path, known.message())
        if known.members and head.startswith(ZIP_MAGIC) and _all_members_end(path, known.members):
            raise WeightFileError(path, known.message())
    candidates = sorted((found for found in formats if found.recognisable), key=lambda found: not found.magic)
    for found in candidates:
        if head.startswith(found.magic) and (found.sniff is None or found.sniff(path, head)):
            return found
    raise WeightFileError(
        path, f"neither its name nor its first bytes say a format rnncalc reads ({_known(formats)})"
    )


def _all_members_end(path: str, ending: str) -> bool:
    """True when the zip archive at ``path`` has members and every one's name ends so (False for
    a damaged archive: its format's own reader says what is wrong)."""
    try:
        members = zip_members(path)
    except WeightFileError:
        return False
    return bool(members) and all(name.endswith(ending) for name in members)


def _known(formats: tuple[WeightFormat, ...]) -> str:
    return ", ".join(sorted(suffix for found in formats for suffix in found.suffixes))
