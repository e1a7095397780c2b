"""The ONNX writer and reader alone, streamed against the whole model in memory: time and peak RSS.

    python bench/onnx_stream.py                   # nn.LSTM(2048, 2048, num_layers=8): 1 GiB
    python bench/onnx_stream.py --hidden 1024 --layers 4

Each step runs in a fresh process on the weights of an ONNX
LSTM stack with random values, made in that process before the clock starts:

* write, streamed: ``write_onnx`` (what ``rnncalc convert`` runs) from the pre-made arrays;
* write, whole: ``onnx.save(build(...))``, what the writer did before it streamed;
* read, mapped: ``open_onnx`` of that file, every initializer read and summed;
* read, whole: ``onnx.load`` and ``numpy_helper.to_array`` of every initializer, summed;
* copy: ``shutil.copyfile`` of the file, the yardstick.

Peak RSS is given above the step's own baseline (the process after its imports and, for the
writers, the arrays), in units of the largest tensor.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from convert import ENV, ROOT  # bench/convert.py

#: Each step: a fresh interpreter that prints its wall time, peak RSS and the peak RSS before
#: the clock started (its baseline) as JSON.
STEP = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
{setup}
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = time.perf_counter()
{body}
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"seconds": elapsed, "peak_bytes": peak, "baseline": baseline}}))
"""

IMPORTS = """
import numpy as np, onnx
from rnncalc.convert.plan import Plan, Source
from rnncalc.convert.stream import target_rows
from rnncalc.core.spec import Cell, Spec
from rnncalc.frameworks import get
from rnncalc.frameworks.onnx import build, spec_graph
from rnncalc.frameworks.onnx_files import open_onnx, write_onnx
convention = get("onnx")
target = convention.tensor_formats()[0]
spec = Spec(cell=Cell.LSTM, input_size={hidden}, hidden_size={hidden}, num_layers={layers})
plan = Plan(Source("source", target, convention, spec, ()), "model.onnx", target, convention)
"""

ARRAYS = """
rng = np.random.default_rng(0)
arrays = {name: rng.random(shape, dtype=np.float32) for name, shape in target_rows(plan)}
"""

STEPS = {
    "write, streamed (write_onnx)": (ARRAYS, "write_onnx(plan, iter(arrays.items()), {path!r})"),
    "write, whole (onnx.save)": (ARRAYS, "onnx.save(build(spec_graph(spec), arrays), {path!r})"),
    "read, mapped (open_onnx)": (
        "",
        "data = open_onnx({path!r})\ntotal = 0.0\nfor name in data:\n"
        "    total += float(data[name].sum())\n    data.release(name)",
    ),
    "read, whole (onnx.load)": (
        "",
        "from onnx import numpy_helper\nmodel = onnx.load({path!r})\ntotal = 0.0\n"
        "for init in model.graph.initializer:\n    total += float(numpy_helper.to_array(init).sum())",
    ),
}


def measure(setup: str, body: str) -> dict[str, float]:
    code = STEP.format(root=ROOT, setup=setup, body=body)
    done = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=8)
    args = parser.parse_args()
    largest = 4 * 4 * args.hidden * args.hidden
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as directory:
        path = str(Path(directory) / "model.onnx")
        imports = IMPORTS.format(hidden=args.hidden, layers=args.layers)
        results = {}
        for label, (setup, body) in STEPS.items():
            result = measure(imports + setup, body.format(path=path))
            results[label] = result
            if label.startswith("write, streamed"):
                size = Path(path).stat().st_size
                copy = measure("import shutil", f"shutil.copyfile({path!r}, {path + '.copy'!r})")
                os.unlink(path + ".copy")
        print(f"ONNX LSTM({args.hidden}, {args.hidden}) × {args.layers}: {size / 2**30:.2f} GiB, "
              f"largest tensor {largest / 2**20:.0f} MiB; copy {copy['seconds']:.2f} s")  # fmt: skip
        for label, result in results.items():
            above = result["peak_bytes"] - result["baseline"]
            print(
                f"{label}: {result['seconds']:.2f} s ({result['seconds'] / copy['seconds']:.1f}× the copy), "
                f"peak {above / 2**20:.0f} MiB above its baseline = {above / largest:.2f}× the largest tensor"
            )


if __name__ == "__main__":
    main()
