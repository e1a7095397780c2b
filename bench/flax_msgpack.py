"""The Flax msgpack writer and reader alone, on a large state: time and peak memory.

    python bench/flax_msgpack.py                      # 1 GiB: 8 layers of LSTM(2048, 2048), 3 runs
    python bench/flax_msgpack.py --hidden 1024 --layers 4 --reps 1 --root /path/to/other/checkout

``--root`` picks the rnncalc checkout the measured processes import (another commit's writer
and reader, to compare). A PyTorch state dict of an ``nn.LSTM`` (as ``bench/convert.py`` makes
it) gives the plan; then, each in a fresh process: the writer given arrays made beforehand
(random float32, held by the process: its baseline is its RSS once they are made), the file it
wrote copied (``shutil.copyfile``), and the reader opening it and reading every array (summed,
so each page is touched; released after, as a conversion does). Peak RSS (``ru_maxrss``) is
given above each process's baseline (the highest of the runs) in units of the largest tensor,
the best times against the copy's; beside them, what importing ``flax.nnx`` (jax) alone takes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}

#: A measured step: ``setup`` is not timed and sets the baseline RSS (the peak so far).
STEP = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
import numpy as np
{setup}
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = time.perf_counter()
{body}
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"seconds": elapsed, "peak_bytes": peak, "baseline_bytes": baseline}}))
"""

WRITE_SETUP = """
from rnncalc.convert import make_plan
from rnncalc.convert.stream import target_rows
from rnncalc.frameworks.flax_files import write_msgpack_state
plan = make_plan({source!r}, {target!r}, force=True)
rng = np.random.default_rng(0)
arrays = {{name: rng.random(shape, dtype=np.float32) for name, shape in target_rows(plan)}}
"""
WRITE = "write_msgpack_state(plan, iter(arrays.items()), {target!r})"

READ_SETUP = "from rnncalc.frameworks.flax_files import open_msgpack_state"
READ = """
data = open_msgpack_state({target!r})
total = 0.0
for name in data:
    array = data[name]
    total += float(array.sum())
    del array
    data.release(name)
"""


def measure(root: str, setup: str, body: str) -> dict[str, float]:
    code = STEP.format(root=root, setup=setup, body=body)
    done = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def best(reps: int, root: str, setup: str, body: str) -> dict[str, float]:
    """The fastest of ``reps`` runs, with the highest peak above the baseline of any."""
    runs = [measure(root, setup, body) for _ in range(reps)]
    fastest = min(runs, key=lambda run: run["seconds"])
    highest = max(runs, key=lambda run: run["peak_bytes"] - run["baseline_bytes"])
    return {**highest, "seconds": fastest["seconds"]}


def make_checkpoint(path: Path, hidden: int, layers: int) -> None:
    """An nn.LSTM state dict (uninitialised values: only its shapes make the plan)."""
    code = f"""
import torch
state = {{}}
for layer in range({layers}):
    for kind, columns in (("weight_ih", {hidden}), ("weight_hh", {hidden}), ("bias_ih", 0), ("bias_hh", 0)):
        state[f"{{kind}}_l{{layer}}"] = torch.zeros((4 * {hidden}, columns) if columns else (4 * {hidden},))
torch.save(state, {str(path)!r})
"""
    subprocess.run([sys.executable, "-c", code], env=ENV, check=True)


def report(label: str, run: dict[str, float], copy: float, largest: int) -> None:
    above = run["peak_bytes"] - run["baseline_bytes"]
    print(
        f"{label}: {run['seconds']:.2f} s ({run['seconds'] / copy:.2f}× the copy); peak RSS "
        f"{above / 2**20:.0f} MiB above its baseline = {above / largest:.2f}× the largest tensor"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent))
    args = parser.parse_args()
    largest = 4 * 4 * args.hidden * args.hidden  # a (hidden, 4 × hidden) float32 kernel
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as directory:
        source, target = Path(directory) / "lstm.pt", str(Path(directory) / "state.msgpack")
        make_checkpoint(source, args.hidden, args.layers)
        write_setup = WRITE_SETUP.format(source=str(source), target=target)
        written = best(args.reps, args.root, write_setup, WRITE.format(target=target))
        size = Path(target).stat().st_size
        copy = f"shutil.copyfile({target!r}, {target + '.copy'!r})"
        copied = best(args.reps, args.root, "import shutil", copy)
        os.unlink(target + ".copy")
        read = best(args.reps, args.root, READ_SETUP, READ.format(target=target))
        flax = best(args.reps, args.root, "", "from flax import nnx, serialization")
        print(
            f"Flax state of {args.layers} LSTM({args.hidden}, {args.hidden}) layers: "
            f"{size / 2**30:.2f} GiB, largest tensor {largest / 2**20:.0f} MiB; "
            f"copy {copied['seconds']:.2f} s"
        )
        report("write (arrays made beforehand)", written, copied["seconds"], largest)
        report("read every array", read, copied["seconds"], largest)
        report("importing flax.nnx (jax) alone", flax, copied["seconds"], largest)


if __name__ == "__main__":
    main()
