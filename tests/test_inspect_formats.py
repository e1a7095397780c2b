"""Files and directories rnncalc does not read are named, with what would read them: never
"unknown file type" or "not a regular file"."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from rnncalc.inspect.formats import UNSUPPORTED


def refusal(run_cli: Callable[..., Result], *args: str) -> str:
    """The one stderr line of a refused command (exit 2, nothing on stdout), without its prefix."""
    result = run_cli(*args)
    assert result.exit_code == 2 and result.stdout == "", result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"rnncalc: error: {args[1]}: ")
    return result.stderr.removeprefix(f"rnncalc: error: {args[1]}: ").rstrip("\n")


def message(what: str) -> str:
    found = next(known for known in UNSUPPORTED if known.what == what)
    return f"{what}: rnncalc does not read it; {found.reader}"


def _npz(path: Path) -> None:
    import numpy as np

    with path.open("wb") as handle:
        np.savez(handle, kernel=np.zeros((3, 4), np.float32))


def _tflite(path: Path) -> None:
    # A FlatBuffer's root offset, then the file identifier (schema.fbs: file_identifier "TFL3").
    path.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(24))


def _gguf(path: Path) -> None:
    # GGUF header: magic, version 3, tensor count 0, metadata count 0 (ggml docs/gguf.md).
    path.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + bytes(16))


#: (suffix, what the file is, how to make it, also told without its suffix)
FILES = [
    (".npz", "a NumPy archive (numpy.savez)", _npz, True),
    (".tflite", "a TensorFlow Lite model", _tflite, True),
    (".gguf", "a GGUF file (llama.cpp)", _gguf, True),
    (".pb", "a TensorFlow SavedModel", lambda path: path.write_bytes(b"\x08\x01"), False),
    (
        ".index",
        "a TensorFlow checkpoint (tf.train.Checkpoint)",
        lambda path: path.write_bytes(b"\0" * 48),
        False,
    ),
]


@pytest.mark.parametrize(("suffix", "what", "make", "by_bytes"), FILES, ids=[row[0] for row in FILES])
def test_a_format_rnncalc_does_not_read_is_named_with_what_reads_it(
    suffix: str,
    what: str,
    make: Callable[[Path], None],
    by_bytes: bool,
    tmp_path: Path,
    run_cli: Callable[..., Result],
) -> None:
    path = tmp_path / f"model{suffix}"
    make(path)
    assert refusal(run_cli, "inspect", str(path)) == message(what)
    assert refusal(run_cli, "convert", str(path), "-o", str(tmp_path / "out.pt")) == message(what)
    assert not (tmp_path / "out.pt").exists()
    if by_bytes:
        bare = tmp_path / "model"
        bare.write_bytes(path.read_bytes())
        assert refusal(run_cli, "inspect", str(bare)) == message(what)


@pytest.mark.parametrize(
    ("member", "what"),
    [
        ("saved_model.pb", "a TensorFlow SavedModel"),
        ("checkpoint", "a TensorFlow checkpoint (tf.train.Checkpoint)"),
    ],
)
def test_a_directory_is_named_by_what_it_holds(
    member: str, what: str, tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / member).write_bytes(b"\x08\x01")
    assert refusal(run_cli, "inspect", str(tmp_path / "model")) == message(what)


def test_a_fifo_is_named_and_never_opened(tmp_path: Path, run_cli: Callable[..., Result]) -> None:
    path = tmp_path / "model.pt"
    os.mkfifo(path)  # opening it to read would block the test
    assert refusal(run_cli, "inspect", str(path)) == (
        "a FIFO, not a weight file; rnncalc reads files and checkpoint directories"
    )


def test_a_missing_path_says_so(tmp_path: Path, run_cli: Callable[..., Result]) -> None:
    assert refusal(run_cli, "inspect", str(tmp_path / "none.pt")) == "no such file"


def test_bytes_no_format_starts_with_are_refused_naming_what_rnncalc_reads(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    path = tmp_path / "model.xyz"
    path.write_bytes(b"\xff" * 16)
    text = refusal(run_cli, "inspect", str(path))
    assert text.startswith("neither its name nor its first bytes say a format rnncalc reads (.bin, ")
    assert "unknown" not in text
