"""The file writers and lazy readers of ``rnncalc convert`` alone: time and peak memory against a copy.

    python bench/convert_parts.py                     # nn.LSTM(2048, 2048, num_layers=8): 1 GiB, 3 runs
    python bench/convert_parts.py --hidden 1024 --layers 4 --reps 1 --formats .keras,.onnx
    BENCH_DIR=/dev/shm python bench/convert_parts.py  # files in memory: the disk left out

Each format's plan comes from a ``.safetensors`` file declaring an ``nn.LSTM`` state dict
(``--hidden`` input and hidden size, ``--layers`` layers), its data left as a hole:
:func:`rnncalc.convert.make_plan` reads only the header. Then, each in a fresh process (the
files in a temporary directory, under ``BENCH_DIR`` if set):

* making the arrays alone: the target's arrays made one at a time (``numpy.full``) and dropped,
  what the writers' figures include;
* for each of ``--formats`` (default: every format convert writes):

  - write: the format's writer (``plan.target.write``, what convert runs) handed those arrays
    one at a time, each made when the writer asks for the next;
  - copy: ``shutil.copyfile`` of the written file, the yardstick;
  - read: the format's lazy reader (``plan.target.open``, what convert reads a source with)
    of that file, every tensor read, summed (so every page is touched) and released;
  - imports: what the write and read processes import before their clock starts (numpy,
    torch, rnncalc's convert and the format's framework), alone.

Prints the best wall time of each step against the copy's and the peak RSS (VmHWM) of the run
that went furthest above its baseline, the process's RSS when the clock started (imports and
plan done), in units of the largest tensor the format holds: the array being made is 1× of a
write.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys
import tempfile
from pathlib import Path

from convert import conversion_imports
from measure import ROOT, lstm_state_rows, measure, summary

sys.path.insert(0, ROOT)  # rnncalc, for the plans' rows (bench/ is this script's own path)

FORMATS = (".safetensors", ".pt", ".onnx", ".keras", ".msgpack")

#: Before the clock: the imports of a conversion to the format, and the plan (``{source}`` to
#: ``{destination}``) with the target's ``(name, shape)`` rows.
SETUP = """
{imports}
import numpy
from rnncalc.convert import make_plan
from rnncalc.frameworks.writing import target_rows
plan = make_plan({source!r}, {destination!r}, force=True)
rows = target_rows(plan)
def pairs():
    for name, shape in rows:
        yield name, numpy.full(shape, 0.1, dtype=numpy.float32)
"""

MAKE = """
for name, array in pairs():
    del array
"""
WRITE = "plan.target.write(plan, pairs(), {path!r})"
READ = """
data = plan.target.open({path!r})
total = 0.0
for name in data:
    array = data[name]
    total += float(array.sum())
    del array
    data.release(name)
data.close()
"""


def declared_state_dict(path: Path, hidden: int, layers: int) -> None:
    """A ``.safetensors`` file of an nn.LSTM state dict whose data is a hole (sparse: no bytes
    written or stored), header as the format defines it (https://github.com/huggingface/safetensors,
    "Format")."""
    header: dict[str, object] = {}
    offset = 0
    for name, shape in lstm_state_rows(hidden, layers):
        size = 4 * math.prod(shape)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(text)) + text)
        handle.truncate(8 + len(text) + offset)


def line(label: str, runs: list[dict[str, float]], largest: int, copy: float | None = None) -> str:
    """``label``'s best time (against the copy's) and its peak RSS above its baseline."""
    best, peak, baseline = summary(runs)
    above = peak - baseline
    against = f" ({best / copy:.2f}× the copy)" if copy else ""
    return (
        f"{label}: {best:.2f} s{against}; peak RSS {above / 2**20:.0f} MiB above its baseline "
        f"of {baseline / 2**20:.0f} MiB = {above / largest:.2f}× the largest tensor"
    )


def largest_tensor(source: Path, destination: Path) -> int:
    """Bytes of the largest float32 tensor the plan from ``source`` to ``destination`` writes: the
    unit of the memory figures, since the writer and reader handle the target's tensors (Flax's
    LSTM keeps one per gate, a quarter of PyTorch's). The plan's rows are analytic: this process
    imports no framework."""
    from rnncalc.convert import make_plan
    from rnncalc.frameworks.writing import target_rows

    rows = target_rows(make_plan(str(source), str(destination), force=True))
    return max(4 * math.prod(shape) for _, shape in rows)


def setup(suffix: str, source: Path, destination: Path) -> str:
    """The setup of a step on ``suffix``'s writer or reader: imports, plan, ``pairs()``."""
    return SETUP.format(imports=conversion_imports(suffix), source=str(source), destination=str(destination))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated suffixes")
    args = parser.parse_args()
    formats = args.formats.split(",")
    unknown = [suffix for suffix in formats if suffix not in FORMATS]
    if unknown:
        parser.error(f"--formats: {', '.join(unknown)} not among {', '.join(FORMATS)}")
    if min(args.hidden, args.layers, args.reps) < 1:
        parser.error("--hidden, --layers and --reps must be at least 1")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as name:
        directory = Path(name)
        source = directory / "declared.safetensors"
        declared_state_dict(source, args.hidden, args.layers)
        print(f"nn.LSTM({args.hidden}, {args.hidden}, num_layers={args.layers}): "
              f"{source.stat().st_size / 2**20:.0f} MiB; files in {directory.parent}")  # fmt: skip
        first = directory / f"written{formats[0]}"
        making = [measure(setup(formats[0], source, first), MAKE) for _ in range(args.reps)]
        print(line(f"making the {formats[0]} arrays alone", making, largest_tensor(source, first)))
        for suffix in formats:
            path = directory / f"written{suffix}"
            copy = directory / f"copy{suffix}"
            largest = largest_tensor(source, path)
            prepared = setup(suffix, source, path)
            writes = [measure(prepared, WRITE.format(path=str(path)), path) for _ in range(args.reps)]
            size = path.stat().st_size
            copies = [
                measure("import shutil", f"shutil.copyfile({str(path)!r}, {str(copy)!r})", copy)
                for _ in range(args.reps)
            ]
            copy.unlink()
            best_copy = min(run["seconds"] for run in copies)
            reads = [measure(prepared, READ.format(path=str(path))) for _ in range(args.reps)]
            path.unlink()
            imported = [measure("", conversion_imports(suffix)) for _ in range(args.reps)]
            import_seconds, peak, baseline = summary(imported)
            print(f"{suffix}, {size / 2**20:.0f} MiB, largest tensor {largest / 2**20:.0f} MiB: "
                  f"copy {best_copy:.2f} s; imports {import_seconds:.2f} s, "
                  f"{(peak - baseline) / 2**20:.0f} MiB")  # fmt: skip
            print(line("  write", writes, largest, best_copy))
            print(line("  read", reads, largest, best_copy))


if __name__ == "__main__":
    main()
