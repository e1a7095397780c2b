"""``rnncalc convert`` of a ~1 GiB checkpoint against copying the file: time and peak memory.

    python bench/convert.py                   # 1 GiB LSTM state dict, 3 runs each
    python bench/convert.py --hidden 1024 --layers 4 --reps 1
    python bench/convert.py --source .safetensors --targets .keras,.onnx

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
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from measure import make_checkpoint, measure, summary

CONVERT_IMPORTS = "import numpy, torch\nimport rnncalc.convert, rnncalc.convert.write, rnncalc.inspect.infer"
#: What writing each target imports beside: its framework, part of the baseline ("plus the
#: interpreter and framework").
TARGET_IMPORTS = {".keras": "import keras, h5py", ".onnx": "import onnx", ".msgpack": "import flax.nnx"}


def conversion_imports(suffix: str) -> str:
    """What a conversion to ``suffix`` imports: the steps' setup, before the clock starts."""
    return f"{CONVERT_IMPORTS}\n{TARGET_IMPORTS.get(suffix, '')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--source", default=".pt", choices=(".pt", ".safetensors"))
    parser.add_argument("--targets", default=".safetensors,.pt,.onnx,.keras,.msgpack")
    args = parser.parse_args()
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
