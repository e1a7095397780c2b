"""What the file benchmarks share: a measured step in a fresh interpreter, and the LSTM checkpoint.

:func:`measure` runs a step's setup, then its body under the clock, in a new ``python -c``
process and returns the body's wall time, the peak RSS while it ran and the RSS when the
clock started (its baseline). :func:`make_checkpoint` writes the ``nn.LSTM`` state dict
``bench/convert.py`` converts; :func:`lstm_state_rows` gives its tensors' names and shapes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
ROOT = str(Path(__file__).resolve().parent.parent)

#: A measured step: a fresh interpreter that runs ``setup``, restarts its peak RSS (VmHWM) from
#: the current RSS (Linux, proc(5): writing "5" to /proc/self/clear_refs), times ``body`` and
#: prints the time, the peak RSS since the restart and the RSS before the clock as JSON.
STEP = """
import json, sys, time
sys.path.insert(0, {root!r})
{setup}
def _status_bytes(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(field))
with open("/proc/self/clear_refs", "w") as clear_refs:
    clear_refs.write("5")
baseline = _status_bytes("VmRSS:")
start = time.perf_counter()
{body}
elapsed = time.perf_counter() - start
print(json.dumps({{"seconds": elapsed, "peak_bytes": _status_bytes("VmHWM:"), "baseline_bytes": baseline}}))
"""


def measure(setup: str, body: str, output: Path | None = None) -> dict[str, float]:
    """Run ``setup``, then ``body`` under the clock, in a fresh interpreter: ``seconds``,
    ``peak_bytes`` (the peak RSS while ``body`` ran) and ``baseline_bytes`` (the RSS when it
    started). ``output``, the file ``body`` writes, is removed first, and the disk writes of the
    steps before are flushed (``os.sync``), so that no step pays for another's."""
    if output is not None:
        output.unlink(missing_ok=True)
    os.sync()
    code = STEP.format(root=ROOT, setup=setup, body=body)
    done = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"a measured step failed (exit {done.returncode}): {done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run_process(argv: list[str], output: Path | None = None) -> dict[str, float]:
    """Run ``argv`` (with ``ROOT`` first on ``PYTHONPATH``): its wall time, start to exit, and
    its CPU time (user and system) and peak RSS (``ru_maxrss``) of that one process, from
    ``wait4(2)``. ``output`` and the
    disk's pending writes as in :func:`measure`."""
    if output is not None:
        output.unlink(missing_ok=True)
    os.sync()
    env = {**ENV, "PYTHONPATH": os.pathsep.join(filter(None, (ROOT, ENV.get("PYTHONPATH"))))}
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            errors.seek(0)
            text = errors.read().decode(errors="replace").strip()
            sys.exit(f"{argv[:4]} failed (exit {process.returncode}): {text[-2000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return {"seconds": elapsed, "cpu_seconds": cpu, "peak_bytes": usage.ru_maxrss * 1024}


def summary(runs: list[dict[str, float]]) -> tuple[float, float, float]:
    """The best time of ``runs``, and the peak RSS and baseline of the run whose peak went
    furthest above its baseline."""
    highest = max(runs, key=lambda run: run["peak_bytes"] - run["baseline_bytes"])
    return min(run["seconds"] for run in runs), highest["peak_bytes"], highest["baseline_bytes"]


def lstm_state_rows(hidden: int, layers: int) -> list[tuple[str, tuple[int, ...]]]:
    """Name and shape of each tensor in ``nn.LSTM(hidden, hidden, num_layers=layers).state_dict()``,
    in its order: 16 × hidden² bytes of float32 per layer (2048 × 8 layers: 1 GiB)."""
    return [
        (f"{kind}_l{layer}", (4 * hidden, hidden) if kind.startswith("weight") else (4 * hidden,))
        for layer in range(layers)
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ]


def make_checkpoint(path: Path, hidden: int, layers: int) -> int:
    """An nn.LSTM state dict with random values, written with ``torch.save`` (with the
    safetensors package for a ``.safetensors`` path) by a child process, so that the benchmark's
    own process imports no framework; returns the largest tensor's bytes."""
    rows = lstm_state_rows(hidden, layers)
    code = f"""
import torch
state = {{name: torch.empty(shape).uniform_(-0.1, 0.1) for name, shape in {rows!r}}}
if {str(path)!r}.endswith(".safetensors"):
    from safetensors.torch import save_file
    save_file(state, {str(path)!r})
else:
    torch.save(state, {str(path)!r})
"""
    subprocess.run([sys.executable, "-c", code], env=ENV, check=True)
    return 4 * 4 * hidden * hidden
