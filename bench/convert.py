"""``rnncalc convert`` of a ~1 GiB checkpoint against copying the file: time and peak memory.

    python bench/convert.py                   # 1 GiB LSTM state dict, 3 runs each
    python bench/convert.py --hidden 1024 --layers 4 --reps 1
    python bench/convert.py --source .safetensors --targets .keras,.onnx

Writes, in a temporary directory, a PyTorch state dict of an ``nn.LSTM`` (``--hidden`` input
and hidden size, ``--layers`` layers: 2048 × 8 is 1.0 GiB of float32) with ``torch.save``
(``--source .safetensors``: with the safetensors package).
Then, each in a fresh process: copies the file (``shutil.copyfile``), and converts it to each
target with ``rnncalc.convert.convert`` (no ``--verify``). Prints the best wall time of each
against the copy's, and each process's peak RSS (``ru_maxrss``) beside a baseline process that
only imports what a conversion imports, in units of the largest tensor. ``--targets``: the
destination suffixes, by default every format convert writes.
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
ROOT = str(Path(__file__).resolve().parent.parent)

#: Each measured step: a fresh interpreter that prints its wall time and peak RSS as JSON.
STEP = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
{imports}
start = time.perf_counter()
{body}
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"seconds": elapsed, "peak_bytes": peak}}))
"""

CONVERT_IMPORTS = "import numpy, torch\nimport rnncalc.convert, rnncalc.convert.write, rnncalc.inspect.infer"
#: What writing each target imports beside: its framework, part of the baseline ("plus the
#: interpreter and framework").
TARGET_IMPORTS = {".keras": "import keras, h5py", ".onnx": "import onnx", ".msgpack": "import flax.nnx"}


def measure(imports: str, body: str, output: Path) -> dict[str, float]:
    """Run ``body``, which writes ``output``, after ``imports`` in a fresh interpreter. The
    previous ``output`` is removed and the disk writes of the steps before are flushed first
    (``os.sync``), so no step pays for another's: copy and conversions start alike."""
    output.unlink(missing_ok=True)
    os.sync()
    code = STEP.format(root=ROOT, imports=imports, body=body)
    done = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def make_checkpoint(path: Path, hidden: int, layers: int) -> int:
    """An nn.LSTM state dict with random values, written by a child process (so that this
    one, whose peak RSS its children's ``ru_maxrss`` can inherit, stays small); returns the
    largest tensor's bytes."""
    code = f"""
import torch
state = {{}}
for layer in range({layers}):
    for kind, columns in (("weight_ih", {hidden}), ("weight_hh", {hidden}), ("bias_ih", 0), ("bias_hh", 0)):
        shape = (4 * {hidden}, columns) if columns else (4 * {hidden},)
        state[f"{{kind}}_l{{layer}}"] = torch.empty(shape).uniform_(-0.1, 0.1)
if {str(path)!r}.endswith(".safetensors"):
    from safetensors.torch import save_file
    save_file(state, {str(path)!r})
else:
    torch.save(state, {str(path)!r})
"""
    subprocess.run([sys.executable, "-c", code], env=ENV, check=True)
    return 4 * 4 * hidden * hidden


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
            imports = f"{CONVERT_IMPORTS}\n{TARGET_IMPORTS.get(suffix, '')}"
            baseline = measure(imports, "pass", Path(directory) / "nothing")["peak_bytes"]
            destination = Path(directory) / f"converted{suffix}"
            body = (
                "from rnncalc.convert import convert\n"
                f"convert({str(source)!r}, {str(destination)!r}, force=True)"
            )
            runs = [measure(imports, body, destination) for _ in range(args.reps)]
            best = min(r["seconds"] for r in runs)
            peak = max(r["peak_bytes"] for r in runs)
            print(
                f"convert → {suffix}: {best:.2f} s ({best / best_copy:.2f}× the copy); peak RSS "
                f"{peak / 2**20:.0f} MiB, {(peak - baseline) / 2**20:.0f} MiB above the baseline "
                f"({baseline / 2**20:.0f} MiB: imports only) "
                f"= {(peak - baseline) / largest:.2f}× the largest tensor"
            )
            destination.unlink()


if __name__ == "__main__":
    main()
