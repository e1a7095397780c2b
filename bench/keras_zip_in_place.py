"""What writing ``model.weights.h5`` in place inside the ``.keras`` zip saves, measured.

``rnncalc convert`` writes a ``.keras`` file's HDF5 member straight into the archive
(rnncalc/io/zip_in_place.py). The standard way writes the HDF5 file to a temporary file and
copies it into a zip with ``ZipFile.write``. This script converts one safetensors state dict
(``nn.LSTM(16, H)``, float32; H=4096 is 256 MiB) to ``.keras`` both ways, each in a fresh
process, best of ``--repeat`` runs, and prints the conversion's time (after the imports it
needs), its peak RSS above the process's RSS when it started, and the bytes it wrote to disk
(``/proc/self/io`` ``write_bytes``).

    python bench/keras_zip_in_place.py --hidden 4096 --repeat 3 [--dir /dev/shm]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def zip_with_temporary_member(
    path: str, members: Sequence[tuple[str, bytes]], name: str, estimated_size: int
) -> Iterator[IO[bytes]]:
    """The standard way: the member written to a temporary file, then copied into the zip."""
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".h5") as temporary:
        yield temporary
        temporary.flush()
        with zipfile.ZipFile(path, "w") as archive:
            for member_name, data in members:
                archive.writestr(member_name, data)
            archive.write(temporary.name, name)


def write_source(path: Path, hidden: int, inputs: int = 16) -> None:
    """A safetensors ``nn.LSTM(inputs, hidden)`` state dict of random float32 values."""
    import numpy as np

    rng = np.random.default_rng(0)
    shapes = {
        "weight_ih_l0": (4 * hidden, inputs),
        "weight_hh_l0": (4 * hidden, hidden),
        "bias_ih_l0": (4 * hidden,),
        "bias_hh_l0": (4 * hidden,),
    }
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 4 * int(np.prod(shape))
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(text)) + text)
        for shape in shapes.values():
            handle.write(rng.standard_normal(shape, dtype=np.float32).tobytes())


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(field))


def _written_bytes() -> int:
    with open("/proc/self/io") as counters:
        return next(int(line.split()[1]) for line in counters if line.startswith("write_bytes"))


def child(source: str, destination: str, standard: bool) -> None:
    """One conversion, the in-place writer replaced by the standard way when asked: after the
    imports it needs, its time, its peak RSS above the RSS it started from (the peak restarted
    by writing 5 to /proc/self/clear_refs, proc(5)) and the bytes it wrote to disk."""
    import rnncalc.io.zip_in_place as zip_in_place
    from rnncalc.convert import convert
    from rnncalc.frameworks import keras as keras_convention

    keras_convention.keras  # noqa: B018 (imports Keras and TensorFlow, as the writer does)

    if standard:
        zip_in_place.zip_with_member_in_place = zip_with_temporary_member  # type: ignore[assignment]
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    baseline, written = _status_bytes("VmRSS:"), _written_bytes()
    started = time.perf_counter()
    convert(source, destination, force=True)
    seconds = time.perf_counter() - started
    peak = _status_bytes("VmHWM:") - baseline
    print(json.dumps({"seconds": seconds, "peak": peak, "written": _written_bytes() - written}))


def measure(source: Path, destination: Path, standard: bool) -> tuple[float, int, int]:
    """Seconds, peak RSS above the baseline and disk bytes written by one conversion."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
    args = [sys.executable, __file__, "--child", str(source), str(destination)] + (
        ["--standard"] if standard else []
    )
    output = subprocess.run(args, capture_output=True, env=env, check=True).stdout
    found = json.loads(output.splitlines()[-1])
    return found["seconds"], found["peak"], found["written"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("SRC", "DST"))
    parser.add_argument("--standard", action="store_true")
    parser.add_argument("--dir", help="where to write (default: the system's temporary directory)")
    options = parser.parse_args()
    if options.child:
        child(*options.child, options.standard)
        return
    work = Path(tempfile.mkdtemp(prefix="rnncalc-bench-", dir=options.dir))
    try:
        source = work / "lstm.safetensors"
        write_source(source, options.hidden)
        print(f"nn.LSTM(16, {options.hidden}): {source.stat().st_size / 2**20:.0f} MiB of float32")
        for standard in (False, True):
            runs = [measure(source, work / "out.keras", standard) for _ in range(options.repeat)]
            seconds, rss, written = min(runs)
            label = "temporary file + ZipFile.write" if standard else "in place (zip_in_place)"
            peak, wrote = rss / 2**20, written / 2**20
            print(f"{label:32} {seconds:6.2f} s  peak above start {peak:5.0f} MiB  wrote {wrote:5.0f} MiB")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
