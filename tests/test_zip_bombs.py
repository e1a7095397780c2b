"""Zip bombs in ``.pt`` and ``.keras`` files: refused in one line, exit 2, before anything is
inflated, in bounded time and memory (each run in its own process, its peak RSS read from
its own VmHWM); a member that inflates past what it declares is stopped where it declares.

The bombs are made in the test, in milliseconds: a deflate stream of zeros cut by full flushes
repeats the same bytes for every megabyte (a full flush byte-aligns the stream and forgets the
window), so 4 GiB of zeros is one compressed megabyte written 4,095 times.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from rnncalc import frameworks

ROOT = Path(__file__).resolve().parent.parent
HAS_TORCH = frameworks.get("torch").is_installed()
MIB = 2**20
#: Peak resident memory allowed for a refusal: torch alone takes about 400 MiB; the bombs
#: inflate to 4 GiB.
MAX_RSS = 1024 * MIB
TIMEOUT = 60


def zeros_deflated(megabytes: int) -> bytes:
    """A raw deflate stream of ``megabytes`` MiB of zeros, about 1 KiB a MiB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert again == block  # the stream restarts at each flush: every block is the same bytes
    return block * megabytes + compressor.flush()


def write_zip(path: Path, members: list[tuple[str, int, bytes, int]], crc: int = 0) -> None:
    """A zip of ``(name, method, raw bytes, declared inflated size)`` members, written by hand
    (APPNOTE.TXT 4.3.7, 4.3.12, 4.3.16) so that a member may declare any size; a deflated
    member's CRC-32 is ``crc`` (the bombs are refused before it matters)."""
    local, central = bytearray(), bytearray()
    for name, method, raw, declared in members:
        encoded = name.encode()
        # version needed, flags, method, time, date, CRC-32, sizes, name length
        fields = struct.pack(
            "<5H3IH",
            20,
            0,
            method,
            0,
            0x21,
            crc if method == zipfile.ZIP_DEFLATED else zlib.crc32(raw),
            len(raw),
            declared,
            len(encoded),
        )
        # extra and comment lengths, disk, attributes, the local header's offset
        central += (
            b"PK\x01\x02" + struct.pack("<H", 20) + fields + struct.pack("<4H2I", 0, 0, 0, 0, 0, len(local))
        )
        central += encoded
        local += b"PK\x03\x04" + fields + struct.pack("<H", 0) + encoded + raw
    count = len(members)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, count, count, len(central), len(local), 0)
    path.write_bytes(bytes(local + central + end))


#: ``python -m rnncalc`` that writes its peak RSS (kB, VmHWM) to the file named first, on exit.
CHILD = """
import atexit, sys
out = sys.argv.pop(1)
def report():
    with open("/proc/self/status") as status, open(out, "w") as peak:
        peak.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
atexit.register(report)
from rnncalc.cli import main
sys.argv[0] = "rnncalc"
main()
"""


def run_measured(*args: str) -> tuple[int, str, int, float]:
    """``rnncalc ARGS`` in a process of its own: exit status, stderr, peak RSS in bytes and
    seconds. The peak is the process's own VmHWM (proc(5)): ``ru_maxrss`` (getrusage, wait4)
    would count the RSS of the test process it was forked from, which exec keeps in it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.NamedTemporaryFile("r") as peak:
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-c", CHILD, peak.name, *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        seconds = time.monotonic() - started
        kilobytes = int(peak.read() or 0)
    return result.returncode, result.stderr.decode(), kilobytes * 1024, seconds


def assert_refused_in_bounds(args: tuple[str, ...], *expected: str) -> None:
    code, stderr, rss, seconds = run_measured(*args)
    assert code == 2, stderr
    assert "Traceback" not in stderr and len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("rnncalc: error: "), stderr
    for text in expected:
        assert text in stderr, stderr
    assert 0 < rss < MAX_RSS, f"peak RSS {rss / MIB:.0f} MiB"
    assert seconds < TIMEOUT


def keras_config() -> bytes:
    return json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": []}}).encode()


def test_the_bomb_maker_makes_what_it_says(tmp_path: Path) -> None:
    """The hand-written zip is read by the zip module, and the stream inflates to its size."""
    path = tmp_path / "small.zip"
    raw = zeros_deflated(3)
    members = [("a/data.pkl", zipfile.ZIP_DEFLATED, raw, 3 * MIB), ("b", zipfile.ZIP_STORED, b"xy", 2)]
    write_zip(path, members, crc=zlib.crc32(bytes(3 * MIB)))
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("a/data.pkl")
        assert (info.compress_size, info.file_size) == (len(raw), 3 * MIB)
        assert len(raw) < 3 * 1100
        with archive.open(info) as member:
            assert member.read() == bytes(3 * MIB)
        assert archive.read("b") == b"xy"


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
@pytest.mark.parametrize("command", ["inspect", "convert"])
def test_a_pt_whose_pickle_inflates_to_4_gib_from_4_mb_is_refused_before_inflating(
    tmp_path: Path, command: str
) -> None:
    path = tmp_path / "bomb.pt"
    write_zip(path, [("archive/data.pkl", zipfile.ZIP_DEFLATED, zeros_deflated(4095), 4095 * MIB)])
    assert path.stat().st_size < 5 * MIB
    args = (
        ("inspect", str(path))
        if command == "inspect"
        else ("convert", str(path), "-o", str(tmp_path / "o.keras"))
    )
    assert_refused_in_bounds(args, str(path), "'archive/data.pkl'", "refused as a zip bomb")
    assert not (tmp_path / "o.keras").exists()


def test_a_keras_file_whose_weights_inflate_to_4_gib_is_refused_before_inflating(tmp_path: Path) -> None:
    path = tmp_path / "bomb.keras"
    write_zip(
        path,
        [
            ("config.json", zipfile.ZIP_STORED, keras_config(), len(keras_config())),
            ("model.weights.h5", zipfile.ZIP_DEFLATED, zeros_deflated(4095), 4095 * MIB),
        ],
    )
    assert_refused_in_bounds(("inspect", str(path)), "'model.weights.h5'", "refused as a zip bomb")


def test_a_member_declaring_gigabytes_in_a_few_bytes_is_refused_before_inflating(tmp_path: Path) -> None:
    path = tmp_path / "lie.keras"
    write_zip(path, [("config.json", zipfile.ZIP_DEFLATED, zlib.compress(keras_config())[2:-4], 4095 * MIB)])
    assert_refused_in_bounds(("inspect", str(path)), "'config.json'", "refused as a zip bomb")


def test_a_member_inflating_past_its_declared_size_stops_there(tmp_path: Path) -> None:
    """Declares 1,000 bytes (under every limit), holds 64 MiB of zeros: inflating stops at the
    declared size (the zip module's own reads end there, and rnncalc counts what it is given)."""
    path = tmp_path / "lie.keras"
    write_zip(path, [("config.json", zipfile.ZIP_DEFLATED, zeros_deflated(64), 1000)])
    code, stderr, rss, _ = run_measured("inspect", str(path))
    assert code == 2 and len(stderr.splitlines()) == 1 and "Traceback" not in stderr, stderr
    assert "zip member 'config.json' is corrupt" in stderr
    assert 0 < rss < 128 * MIB


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
def test_a_pt_pickle_declaring_less_than_it_inflates_to_is_refused_in_bounds(tmp_path: Path) -> None:
    path = tmp_path / "lie.pt"
    write_zip(path, [("archive/data.pkl", zipfile.ZIP_DEFLATED, zeros_deflated(1024), 1000)])
    assert_refused_in_bounds(("inspect", str(path)), str(path))


@pytest.mark.parametrize(
    ("method", "declared", "message"),
    [
        (zipfile.ZIP_BZIP2, 10, "compression method 12"),
        (zipfile.ZIP_STORED, 11, "declares 11 bytes in 10"),
    ],
)
def test_a_member_a_real_archive_never_has_is_refused_by_name(
    tmp_path: Path, method: int, declared: int, message: str, run_cli: Callable[..., Result]
) -> None:
    path = tmp_path / "odd.keras"
    write_zip(path, [("config.json", method, b"0123456789", declared)])
    result = run_cli("inspect", str(path))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "'config.json'" in result.stderr and message in result.stderr


def test_docs_security_states_the_zip_limits_in_force() -> None:
    from rnncalc.core import limits

    text = (ROOT / "docs" / "security.md").read_text()
    assert f"| {limits.MAX_ZIP_RATIO} : 1 |" in text
    assert limits.ZIP_RATIO_GRACE_BYTES == MIB and "over 1 MiB (`MAX_ZIP_RATIO`)" in text
    assert limits.MAX_ZIP_INFLATED_BYTES == 4 * 2**30 and "(`MAX_ZIP_INFLATED_BYTES`) | 4 GiB |" in text
    assert limits.MAX_ZIP_METADATA_BYTES == 100_000_000 and "| 100 MB |" in text


def test_a_real_keras_file_rezipped_with_deflate_reads_and_converts_as_the_original(
    tmp_path: Path, run_json: Callable[..., Any], run_cli: Callable[..., Result]
) -> None:
    """Deflated members are within the limits: their HDF5 file is inflated once to a
    temporary file (bounded) and read as the stored one is."""
    keras = pytest.importorskip("rnncalc.frameworks.keras").keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4, return_sequences=True)])
    model.save(tmp_path / "stored.keras")
    with (
        zipfile.ZipFile(tmp_path / "stored.keras") as source,
        zipfile.ZipFile(tmp_path / "deflated.keras", "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    stored, deflated = (
        run_json("inspect", str(tmp_path / f"{kind}.keras")) for kind in ("stored", "deflated")
    )
    assert deflated["tensors"] == stored["tensors"] and deflated["total_params"] == model.count_params()
    for kind in ("stored", "deflated"):
        result = run_cli(
            "convert", str(tmp_path / f"{kind}.keras"), "-o", str(tmp_path / f"{kind}.safetensors")
        )
        assert result.exit_code == 0, result.stderr
    assert (tmp_path / "deflated.safetensors").read_bytes() == (tmp_path / "stored.safetensors").read_bytes()


@pytest.mark.parametrize(("bit", "what"), [(0x01, "encrypted"), (0x20, "compressed patched data")])
def test_an_encrypted_or_patched_member_is_refused_by_name(
    tmp_path: Path, run_cli: Callable[..., Result], bit: int, what: str
) -> None:
    """Flags found by the differential test: the zip module raised RuntimeError and
    NotImplementedError for them, a traceback."""
    path = tmp_path / "flagged.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", keras_config())
    raw = bytearray(path.read_bytes())
    central = raw.index(b"PK\x01\x02")
    raw[central + 8] |= bit  # the central directory's general-purpose flags (APPNOTE.TXT 4.3.12)
    path.write_bytes(bytes(raw))
    result = run_cli("inspect", str(path))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"zip member 'config.json' is {what}; rnncalc reads plain members only" in result.stderr
