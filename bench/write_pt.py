"""The ``.pt`` writer alone (no conversion): time and peak memory against copying its file.

    python bench/write_pt.py                          # nn.LSTM(2048, 2048, num_layers=8): 1 GiB
    python bench/write_pt.py --hidden 1024 --layers 4 --reps 1

In fresh processes: a producer makes an ``nn.LSTM`` state dict's float32 arrays one at a time
(``numpy.full``) and drops each (``none``), or hands each to
:func:`rnncalc.frameworks.torch_zip.write_torch_zip` (``stream``), or collects them into the dict
``torch.save`` needs (``torch.save``); then the written file is copied (``shutil.copyfile``).
Prints the best wall time of each and its peak RSS above a process that only imports, in units
of the largest tensor: the producer's own array is the 1× of ``none``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from convert import measure

PRODUCE = """
import numpy, torch
rows = []
for layer in range({layers}):
    for kind, columns in (("weight_ih", {hidden}), ("weight_hh", {hidden}), ("bias_ih", 0), ("bias_hh", 0)):
        rows.append((f"{{kind}}_l{{layer}}", (4 * {hidden}, columns) if columns else (4 * {hidden},)))
def pairs():
    for name, shape in rows:
        yield name, numpy.full(shape, 0.1, dtype=numpy.float32)
"""

WRITERS = {
    "none": "for name, array in pairs():\n    del array",
    "stream": "write_torch_zip(rows, pairs(), {path!r})",
    "torch.save": "torch.save({{name: torch.from_numpy(array) for name, array in pairs()}}, {path!r})",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    largest = 4 * 4 * args.hidden * args.hidden
    imports = PRODUCE.format(hidden=args.hidden, layers=args.layers)
    imports += "from rnncalc.frameworks.torch_zip import write_torch_zip\n"
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as directory:
        path = str(Path(directory) / "written.pt")
        results = {
            writer: [measure(imports, body.format(path=path)) for _ in range(args.reps)]
            for writer, body in WRITERS.items()
        }
        copies = [
            measure("import shutil", f"shutil.copyfile({path!r}, {path + '.copy'!r})")
            for _ in range(args.reps)
        ]
        size = Path(path).stat().st_size
    baseline = measure(imports, "pass")["peak_bytes"]
    best_copy = min(c["seconds"] for c in copies)
    print(f"{size / 2**30:.2f} GiB, largest tensor {largest / 2**20:.0f} MiB; "
          f"copy: {best_copy:.2f} s; baseline (imports only) {baseline / 2**20:.0f} MiB")  # fmt: skip
    for writer, runs in results.items():
        best = min(r["seconds"] for r in runs)
        peak = max(r["peak_bytes"] for r in runs)
        print(f"{writer}: {best:.2f} s ({best / best_copy:.2f}× the copy); "
              f"{(peak - baseline) / largest:.2f}× the largest tensor above the baseline")  # fmt: skip


if __name__ == "__main__":
    main()
