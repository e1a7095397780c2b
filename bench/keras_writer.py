"""The ``.keras`` writer alone: time and peak memory of writing a ~1 GiB LSTM stack from arrays
made one at a time, against copying the written file.

    python bench/keras_writer.py                 # nn.LSTM(2048, 2048, num_layers=8): 1 GiB
    python bench/keras_writer.py --hidden 1024 --layers 4

The plan comes from a safetensors file whose header declares the PyTorch state dict (the rest
of the file is a hole: :func:`rnncalc.convert.make_plan` reads only the header); each target
tensor is made (``np.full``) when the writer asks for it, so at most the one being written
and the one being made exist. Peak RSS (VmHWM, reset just before writing) is compared with the
process's RSS then, after importing Keras, in units of the largest tensor.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss_now() -> int:
    """Current resident set size in bytes (/proc/self/statm, second field, in pages)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak() -> None:
    """Start the peak RSS (VmHWM) over from the current RSS (Linux: proc(5), clear_refs "5")."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def peak_rss() -> int:
    """The peak RSS since :func:`reset_peak`, in bytes (VmHWM in /proc/self/status)."""
    with open("/proc/self/status") as handle:
        line = next(line for line in handle if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def declared_state_dict(path: Path, hidden: int, layers: int) -> None:
    """A safetensors header for an nn.LSTM state dict, the data left as a hole."""
    header, offset = {}, 0
    for layer in range(layers):
        for kind, columns in (("weight_ih", hidden), ("weight_hh", hidden), ("bias_ih", 0), ("bias_hh", 0)):
            shape = [4 * hidden, columns] if columns else [4 * hidden]
            size = 4 * shape[0] * (shape[1] if columns else 1)
            span = [offset, offset + size]
            header[f"{kind}_l{layer}"] = {"dtype": "F32", "shape": shape, "data_offsets": span}
            offset += size
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(text)) + text)
        handle.truncate(8 + len(text) + offset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=8)
    args = parser.parse_args()
    import keras  # noqa: F401  (the framework is part of the baseline)
    import numpy as np

    from rnncalc.convert import make_plan
    from rnncalc.convert.stream import target_rows
    from rnncalc.frameworks.keras_files import write_keras_archive

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as directory:
        source, destination = Path(directory) / "lstm.safetensors", Path(directory) / "lstm.keras"
        declared_state_dict(source, args.hidden, args.layers)
        plan = make_plan(str(source), str(destination))
        rows = target_rows(plan)
        largest = max(4 * int(np.prod(shape)) for _, shape in rows)

        def pairs():  # type: ignore[no-untyped-def]
            for index, (name, shape) in enumerate(rows):
                yield name, np.full(shape, index, dtype=np.float32)

        baseline = rss_now()
        reset_peak()
        start = time.perf_counter()
        write_keras_archive(plan, pairs(), str(destination))
        seconds = time.perf_counter() - start
        peak = peak_rss()
        size = destination.stat().st_size
        start = time.perf_counter()
        shutil.copyfile(destination, Path(directory) / "copy.keras")
        copy = time.perf_counter() - start
    mib = 2**20
    print(f"wrote {size / 2**30:.2f} GiB in {seconds:.2f} s; copying it {copy:.2f} s ({seconds / copy:.2f}×)")
    print(
        f"peak RSS {peak / mib:.0f} MiB, {(peak - baseline) / mib:.0f} MiB above the "
        f"{baseline / mib:.0f} MiB before writing = {(peak - baseline) / largest:.2f}× the largest "
        f"tensor ({largest / mib:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
