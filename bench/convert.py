"""``rnncalc convert`` of a ~1 GiB checkpoint against copying the file, and of a ~1 GiB whole
model against the same conversion done by hand in the frameworks: time and peak memory.

    python bench/convert.py                   # 1 GiB LSTM state dict, 3 runs each
    python bench/convert.py --hidden 1024 --layers 4 --reps 1
    python bench/convert.py --source .safetensors --targets .keras,.onnx
    python bench/convert.py --whole --reps 1  # 1 GiB language model, rnncalc against by hand
    python bench/convert.py --whole --sizes 1000,16,32,2,8 --directions .pt:.keras

Writes, in a temporary directory, a PyTorch state dict of an ``nn.LSTM`` (``--hidden`` input
and hidden size, ``--layers`` layers: 2048 × 8 is 1.0 GiB of float32) with ``torch.save``
(``--source .safetensors``: with the safetensors package).
Then, each in a fresh process: copies the file (``shutil.copyfile``), and converts it to each
target with ``rnncalc.convert.convert`` (no ``--verify``). Prints the best wall time of each
against the copy's, and the peak RSS (VmHWM) of the run that went furthest above its baseline
(its RSS when the clock starts, once it has imported what a conversion imports), in units of
the largest tensor. ``--targets``: the destination suffixes, by default every format convert
writes. :mod:`measure` runs the steps; ``bench/convert_parts.py`` measures the writers and
readers alone.

``--whole``: the model of :mod:`by_hand` (an embedding, a 4-layer LSTM, a layer norm, an LSTM
and a dense head: 1.00 GiB of float32 at the default ``--sizes``, the embedding and the head
250 MiB each) written with ``torch.save`` (and, for ``.keras`` sources, saved by the by-hand
``.pt`` → ``.keras`` conversion). For each of ``--directions``, in fresh processes one at a
time: the ``rnncalc convert --no-verify`` command line (``--verify``: also with verify on, the
CLI's default) and the by-hand script of :data:`by_hand.BY_HAND`, each timed from start to exit,
with its CPU time and peak RSS (``wait4(2)``'s ``ru_maxrss``); and each one's baseline, a process
that only imports what it imports (for rnncalc: its CLI and the frameworks a small conversion in
the same direction leaves in ``sys.modules``). Memory is the peak above the baseline's peak, in
units of the model's largest tensor.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from by_hand import BY_HAND, MAKE_PT, Sizes
from measure import ENV, ROOT, make_checkpoint, measure, run_process, summary

CONVERT_IMPORTS = "import numpy, torch\nimport rnncalc.convert, rnncalc.convert.write, rnncalc.inspect.infer"
#: What writing each target imports beside: its framework, part of the baseline ("plus the
#: interpreter and framework").
TARGET_IMPORTS = {".keras": "import keras, h5py", ".onnx": "import onnx", ".msgpack": "import flax.nnx"}


def conversion_imports(suffix: str) -> str:
    """What a conversion to ``suffix`` imports: the steps' setup, before the clock starts."""
    return f"{CONVERT_IMPORTS}\n{TARGET_IMPORTS.get(suffix, '')}"


#: The modules whose import is "the framework" of a conversion's baseline.
FRAMEWORKS = ("numpy", "torch", "keras", "tensorflow", "h5py", "onnx", "onnxscript", "jax", "flax")

#: Converts ``argv[1]`` to ``argv[2]`` with the CLI and prints the frameworks left imported.
IMPORTED = f"""
import json, sys
from rnncalc.cli import cli
cli(["convert", sys.argv[1], "-o", sys.argv[2], "--force", "--no-verify"], standalone_mode=False)
print(json.dumps([name for name in {FRAMEWORKS!r} if name in sys.modules]))
"""


def python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


def by_hand(direction: tuple[str, str], sizes: Sizes, source: Path, destination: Path) -> tuple[str, str]:
    """The by-hand script of ``direction`` for these files: its imports, and the whole script."""
    imports, body = BY_HAND[direction]
    fields = {**sizes.fields(), "source": str(source), "destination": str(destination)}
    return imports.format(**fields), (imports + body).format(**fields)


def make_sources(directory: Path, sizes: Sizes, suffixes: set[str]) -> dict[str, Path]:
    """The model's ``.pt`` file, and its ``.keras`` file (by hand) when a direction reads one."""
    pt = directory / f"model-{sizes.vocab}.pt"
    run_process(python(MAKE_PT.format(**sizes.fields(), destination=str(pt))))
    sources = {".pt": pt}
    if ".keras" in suffixes:
        sources[".keras"] = pt.with_suffix(".keras")
        run_process(python(by_hand((".pt", ".keras"), sizes, pt, sources[".keras"])[1]))
    return sources


def rnncalc_imports(source: Path, destination: Path) -> str:
    """What ``rnncalc convert`` from ``source``'s format to ``destination``'s imports: its CLI
    and the frameworks left in ``sys.modules`` by converting ``source`` in a child process."""
    argv = python(IMPORTED, str(source), str(destination))
    done = subprocess.run(argv, capture_output=True, text=True, env={**ENV, "PYTHONPATH": ROOT}, check=True)
    destination.unlink()
    frameworks = json.loads(done.stdout.strip().splitlines()[-1])
    return "\n".join(["import rnncalc.cli, rnncalc.convert", *(f"import {name}" for name in frameworks)])


def whole(args: argparse.Namespace) -> None:
    """``--whole``: rnncalc against by hand, each direction."""
    sizes = Sizes(*(int(size) for size in args.sizes.split(",")))
    tensors = [4 * math.prod(shape) for shape in sizes.shapes().values()]
    largest, total = max(tensors), sum(tensors)
    directions = [tuple(pair.split(":")) for pair in args.directions.split(",")]
    unknown = [":".join(pair) for pair in directions if pair not in BY_HAND]
    if unknown:
        sys.exit(f"--directions: no by-hand script for {', '.join(unknown)}")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as name:
        directory = Path(name)
        small = make_sources(directory, Sizes(50, 4, 6, 2, 3), {source for source, _ in directions})
        sources = make_sources(directory, sizes, {source for source, _ in directions})
        print(f"model: {sizes}, {total / 2**30:.2f} GiB of float32, "
              f"largest tensor {largest / 2**20:.0f} MiB; files in {directory.parent}")  # fmt: skip
        for source_suffix, target_suffix in directions:
            source, destination = sources[source_suffix], directory / f"converted{target_suffix}"
            imports = rnncalc_imports(small[source_suffix], directory / f"small{target_suffix}")
            command = [sys.executable, "-m", "rnncalc", "convert", str(source), "-o", str(destination)]
            hand_imports, hand = by_hand((source_suffix, target_suffix), sizes, source, destination)
            sides = {
                "rnncalc convert --no-verify": (imports, [*command, "--force", "--no-verify"]),
                "by hand": (hand_imports, python(hand)),
            }
            if args.verify:
                sides["rnncalc convert (verify on)"] = (imports, [*command, "--force"])
            print(f"{source_suffix} → {target_suffix}:")
            for label, (baseline_code, argv) in sides.items():
                runs = [run_process(argv, destination) for _ in range(args.reps)]
                baselines = [run_process(python(baseline_code)) for _ in range(args.reps)]
                best = min(run["seconds"] for run in runs)
                cpu = min(run["cpu_seconds"] for run in runs)
                peak = max(run["peak_bytes"] for run in runs)
                baseline = min(run["peak_bytes"] for run in baselines)
                floor = min(run["seconds"] for run in baselines)
                print(f"  {label}: {best:.2f} s, CPU {cpu:.2f} s (imports alone {floor:.2f} s); "
                      f"peak RSS {peak / 2**20:.0f} MiB, {(peak - baseline) / 2**20:.0f} MiB above the "
                      f"imports' {baseline / 2**20:.0f} MiB = {(peak - baseline) / largest:.2f}× the "
                      "largest tensor")  # fmt: skip
            destination.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--source", default=".pt", choices=(".pt", ".safetensors"))
    parser.add_argument("--targets", default=".safetensors,.pt,.onnx,.keras,.msgpack")
    parser.add_argument("--whole", action="store_true", help="a whole model, rnncalc against by hand")
    parser.add_argument("--sizes", default="64000,1024,2048,4,1024", help="vocab,embed,hidden,layers,hidden2")
    parser.add_argument("--directions", default=",".join(":".join(pair) for pair in BY_HAND))
    parser.add_argument("--verify", action="store_true", help="--whole: also rnncalc convert with verify on")
    args = parser.parse_args()
    if args.whole:
        whole(args)
        return
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as directory:
        source = Path(directory) / f"lstm{args.source}"
        largest = make_checkpoint(source, args.hidden, args.layers)
        size = source.stat().st_size
        print(f"checkpoint: nn.LSTM({args.hidden}, {args.hidden}, num_layers={args.layers}), "
              f"{size / 2**30:.2f} GiB, largest tensor {largest / 2**20:.0f} MiB")  # fmt: skip
        copy = Path(directory) / f"copy{args.source}"
        copies = [
            measure("import shutil", f"shutil.copyfile({str(source)!r}, {str(copy)!r})", copy)
            for _ in range(args.reps)
        ]
        copy.unlink()
        best_copy = min(c["seconds"] for c in copies)
        print(f"copy: {best_copy:.2f} s")
        for suffix in args.targets.split(","):
            imports = conversion_imports(suffix)
            destination = Path(directory) / f"converted{suffix}"
            body = (
                "from rnncalc.convert import convert\n"
                f"convert({str(source)!r}, {str(destination)!r}, force=True)"
            )
            runs = [measure(imports, body, destination) for _ in range(args.reps)]
            best, peak, baseline = summary(runs)
            print(
                f"convert → {suffix}: {best:.2f} s ({best / best_copy:.2f}× the copy); peak RSS "
                f"{peak / 2**20:.0f} MiB, {(peak - baseline) / 2**20:.0f} MiB above the baseline "
                f"({baseline / 2**20:.0f} MiB: imports only) "
                f"= {(peak - baseline) / largest:.2f}× the largest tensor"
            )
            destination.unlink()


if __name__ == "__main__":
    main()
