"""rnncalc benchmarks: each figure beside its target, measured as ratios in one run.

    python bench/run.py              # everything (about a minute; the anchors take longest)
    python bench/run.py --quick      # fewer repetitions
    python bench/run.py --reps 40    # more repetitions for the start-up figures

Run it with the interpreter of the environment rnncalc is installed in. Start-up times are the
median wall time of fresh subprocesses, interleaved (A, B, A, B, ...) so that drift from other
load on the machine hits both sides of a ratio alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PY = sys.executable
SCRIPT = shutil.which("rnncalc", path=str(Path(PY).parent)) or ""
RNNCALC = [SCRIPT] if SCRIPT else [PY, "-m", "rnncalc"]
QUIET_TF = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "KERAS_BACKEND": "tensorflow"}

SUMMARY_ARGS = ["summary", "--cell", "rnn", "--hidden", "8", "--bi", "--input", "5"]
#: Start-up target: ``rnncalc summary`` over its import floor (issue 9 raised it from 1.15 when
#: Flax NNX and ONNX joined the registry and the hand-written JSON writer went back to ``json``).
STARTUP_TARGET = 1.25


#: Installed packages run from bytecode that pip compiled at install time; an environment with
#: PYTHONDONTWRITEBYTECODE=1 would instead recompile rnncalc's (editable) sources on every start
#: and measure the compiler, not rnncalc. So the subprocesses may write and reuse __pycache__.
BASE_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


#: CPU seconds (user + system) of the last finished child, beside its wall time.
LAST_CPU: list[float] = [0.0]


def run_once(argv: Sequence[str], env: dict[str, str] | None = None) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**BASE_ENV, **(env or {})},
        check=False,
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    LAST_CPU[0] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.decode()[-400:]}")
    return elapsed


def paired(
    a: Sequence[str], b: Sequence[str], reps: int, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """Median wall times of ``a`` and ``b``, run alternately after one warm-up each.

    Also prints the ratio of median CPU times, which other load on the machine disturbs less.
    """
    run_once(a, env)
    run_once(b, env)
    times_a, times_b, cpu_a, cpu_b = [], [], [], []
    for _ in range(reps):
        times_a.append(run_once(a, env))
        cpu_a.append(LAST_CPU[0])
        times_b.append(run_once(b, env))
        cpu_b.append(LAST_CPU[0])
    PAIRED_CPU[:] = [statistics.median(cpu_a), statistics.median(cpu_b)]
    return statistics.median(times_a), statistics.median(times_b)


PAIRED_CPU: list[float] = [0.0, 0.0]


def cpu_note() -> str:
    ours, floor = PAIRED_CPU
    return f"(CPU {ms(ours)} / {ms(floor)} = {ours / floor:.2f}×)"


def median_time(argv: Sequence[str], reps: int, env: dict[str, str] | None = None) -> float:
    return statistics.median(run_once(argv, env) for _ in range(reps))


def row(name: str, measured: str, target: str, verdict: str | None = None) -> None:
    print(f"  {name:<58} {measured:>22}   target {target:<10} {verdict or ''}")


def verdict(ratio: float, limit: float) -> str:
    return "ok" if ratio <= limit else "MISSED"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


# --- 1. start-up ---------------------------------------------------------------------------


def bench_startup(reps: int, anchor_reps: int) -> None:
    print("Start-up (median of fresh processes):")
    cases: tuple[tuple[str, list[str], list[str]], ...] = (
        ("(table)", [], [PY, "-c", "import click, tabulate"]),
        ("--format json", ["--format", "json"], [PY, "-c", "import click"]),
    )
    for label, extra, floor_argv in cases:
        ours, floor = paired([*RNNCALC, *SUMMARY_ARGS, *extra], floor_argv, reps)
        ratio = ours / floor
        row(
            f"rnncalc summary {label} / python -c '{floor_argv[-1]}'",
            f"{ms(ours)} / {ms(floor)} = {ratio:.2f}×",
            f"≤ {STARTUP_TARGET}×",
            f"{verdict(ratio, STARTUP_TARGET)} {cpu_note()}",
        )
    json_time = ours  # the anchors below are compared with the JSON path
    # The console script freezes the garbage collector (rnncalc.cli.main), which also spares
    # the interpreter's final collection at exit; calling the click group directly shows what
    # rnncalc's own code costs without that.
    unfrozen = [PY, "-c", "import sys; from rnncalc.cli import cli; cli(sys.argv[1:], prog_name='rnncalc')"]
    for label, extra, floor_argv in cases:
        ours, floor = paired([*unfrozen, *SUMMARY_ARGS, *extra], floor_argv, reps)
        row(
            f"  same, {label}, without gc.freeze (click group called directly)",
            f"{ms(ours)} / {ms(floor)} = {ours / floor:.2f}×",
            "-",
            f"(for comparison) {cpu_note()}",
        )
    bare = median_time([PY, "-c", "pass"], reps)
    row("bare interpreter (python -c pass)", ms(bare), "-")

    if has_module("torch"):
        if has_module("torchinfo"):
            code = (
                "import torch; from torchinfo import summary; "
                "summary(torch.nn.RNN(5, 8, bidirectional=True), input_size=(3, 2, 5))"
            )
            label = "anchor: import torch + torchinfo.summary(nn.RNN(5, 8, bi))"
        else:
            code = "import torch; m = torch.nn.RNN(5, 8, bidirectional=True); print(m)"
            label = "anchor: import torch + print(nn.RNN(5, 8, bi)) (no torchinfo)"
        anchor = median_time([PY, "-c", code], anchor_reps)
        row(label, f"{ms(anchor)} = {anchor / json_time:.0f}× json", "-")
    if has_module("keras"):
        code = (
            "import keras; m = keras.Sequential([keras.Input((None, 5)), "
            "keras.layers.Bidirectional(keras.layers.SimpleRNN(8))]); m.summary()"
        )
        anchor = median_time([PY, "-c", code], anchor_reps, QUIET_TF)
        row(
            "anchor: import keras + model.summary() (same RNN)",
            f"{ms(anchor)} = {anchor / json_time:.0f}× json",
            "-",
        )


# --- 2. throughput --------------------------------------------------------------------------


def generate_specs(count: int, seed: int = 0) -> list[dict[str, object]]:
    rng = random.Random(seed)
    specs: list[dict[str, object]] = []
    for _ in range(count):
        cell = rng.choice(["rnn", "lstm", "gru"])
        hidden = rng.randint(2, 1024)
        spec: dict[str, object] = {
            "cell": cell,
            "input_size": rng.randint(1, 1024),
            "hidden_size": hidden,
            "num_layers": rng.randint(1, 4),
            "bidirectional": rng.random() < 0.5,
            "batch_size": rng.randint(1, 64),
            "seq_len": rng.randint(1, 500),
        }
        if cell == "lstm" and rng.random() < 0.2:
            spec["proj_size"] = rng.randint(1, hidden - 1) if hidden > 1 else 0
        specs.append(spec)
    return specs


def bench_throughput(count: int = 10_000, reps: int = 3) -> None:
    from rnncalc.analysis import analyze, analyze_totals
    from rnncalc.cost.model import cost

    print(f"Throughput ({count:,} specs in one process):")
    lines = [json.dumps(spec) for spec in generate_specs(count)]
    # The user's path: JSONL on stdin through `rnncalc check -`, one fresh process (its start-up
    # included), best of ``reps`` wall times.
    stdin = "\n".join(lines).encode() + b"\n"
    for fmt in ("jsonl", "lines"):
        argv = [*RNNCALC, "check", "-", "--against", "none", "--format", fmt]
        best = min(_timed_stdin(argv, stdin) for _ in range(reps))
        row(
            f"rnncalc check - --against none --format {fmt} (whole process)",
            f"{best:.3f} s ({best / count * 1e6:.0f} µs/spec)",
            "≤ 1 s",
            "ok" if best <= 1 else "MISSED",
        )
    # Streamed, one line at a time as a JSONL reader would: holding 10,000 analyses alive at once
    # makes the cyclic garbage collector rescan them over and over (about 2× slower).
    clock = time.perf_counter
    analysed = converted = elapsed = 0.0
    rows = 0
    for line in lines:
        t0 = clock()
        analysis = analyze(json.loads(line))
        t1 = clock()
        document = analysis.to_dict()
        t2 = clock()
        json.dumps(document)
        t3 = clock()
        analysed += t1 - t0
        converted += t2 - t0
        elapsed += t3 - t0
        rows += sum(len(report.weights) for report in analysis.frameworks)
    print(f"  (random specs: 1-4 layers, half bidirectional; {rows / count:.1f} weight rows per spec)")
    row("JSONL line → analyze", f"{analysed:.3f} s ({analysed / count * 1e6:.0f} µs/spec)", "-")
    row("JSONL line → analyze → to_dict", f"{converted:.3f} s ({converted / count * 1e6:.0f} µs/spec)", "-")
    row(
        "library: JSONL line → analyze → to_dict → JSON line (all weight rows)",
        f"{elapsed:.3f} s ({elapsed / count * 1e6:.0f} µs/spec)",
        "-",
    )
    start = time.perf_counter()
    for line in lines:
        analyze_totals(json.loads(line))
    elapsed = time.perf_counter() - start
    row(
        "JSONL line → analyze_totals (what check judges)",
        f"{elapsed:.3f} s ({elapsed / count * 1e6:.0f} µs/spec)",
        "-",
    )
    start = time.perf_counter()
    for line in lines:
        cost(json.loads(line)).to_dict()
    elapsed = time.perf_counter() - start
    row(
        "JSONL line → cost → to_dict (FLOPs and memory)",
        f"{elapsed:.3f} s ({elapsed / count * 1e6:.0f} µs/spec)",
        "-",
    )


# --- 3. check against the frameworks --------------------------------------------------------


def bench_check(reps: int) -> None:
    print("rnncalc check against the real frameworks:")
    probe = subprocess.run([*RNNCALC, "check", "--help"], capture_output=True, check=False)
    if probe.returncode != 0:
        row(
            "rnncalc check --against torch / bare torch script",
            "skipped",
            "≤ 1.2×",
            "(no `rnncalc check` yet)",
        )
        row(
            "rnncalc check --against keras / bare keras script",
            "skipped",
            "≤ 1.2×",
            "(no `rnncalc check` yet)",
        )
        return
    spec = ["--cell", "lstm", "--input", "5", "--hidden", "8", "--layers", "2", "--bi"]
    cases = [
        (
            "torch",
            "import torch; m = torch.nn.LSTM(5, 8, num_layers=2, bidirectional=True); "
            "out = m(torch.zeros(3, 2, 5)); print(sum(p.numel() for p in m.parameters()))",
        ),
        (
            "keras",
            "import keras, numpy as np; x = keras.Input(batch_shape=(2, 3, 5)); "
            "h = keras.layers.Bidirectional(keras.layers.LSTM(8, return_sequences=True))(x); "
            "h = keras.layers.Bidirectional(keras.layers.LSTM(8))(h); m = keras.Model(x, h); "
            "m(np.zeros((2, 3, 5), 'float32')); print(m.count_params())",
        ),
    ]
    for framework, bare in cases:
        if not has_module(framework):
            row(
                f"rnncalc check --against {framework} / bare script",
                "skipped",
                "≤ 1.2×",
                f"({framework} missing)",
            )
            continue
        try:
            ours, floor = paired(
                [*RNNCALC, "check", "--against", framework, *spec], [PY, "-c", bare], reps, QUIET_TF
            )
        except RuntimeError as error:
            row(f"rnncalc check --against {framework} / bare script", "failed", "≤ 1.2×", str(error)[:80])
            continue
        ratio = ours / floor
        row(
            f"rnncalc check --against {framework} / bare {framework} script",
            f"{ms(ours)} / {ms(floor)} = {ratio:.2f}×",
            "≤ 1.2×",
            verdict(ratio, 1.2),
        )


# --- 4. numpy reference forward --------------------------------------------------------------


#: OpenBLAS's name for its AVX-512 kernels, which OPENBLAS_CORETYPE can select.
AVX512_CORE = "SkylakeX"


def bench_reference(reps: int) -> None:
    """The numpy LSTM forward against torch's, each timed in its own fresh process.

    Once with numpy's BLAS as installed, and, where that BLAS chose AVX2 kernels on a CPU with
    AVX-512 (OpenBLAS 0.3.31 does not recognise AMD Zen 5, for one), once more with
    ``OPENBLAS_CORETYPE`` set to its AVX-512 kernels, the instruction set torch's own kernels
    use there. The target is judged on the run whose BLAS uses the CPU's instruction set.
    """
    print("numpy reference LSTM forward (input 256, hidden 512, 100 steps, batch 32, float32):")
    name = "numpy reference / torch CPU forward, same weights and threads"
    if not (has_module("numpy") and has_module("torch")):
        row(name, "skipped", "≤ 1.5×", "(needs numpy and torch)")
        return
    first = _reference_worker_run(reps, {})
    runs = [("BLAS as installed", first)]
    if first["blas_core"] == "Haswell" and first["avx512"]:
        runs.append(
            (
                f"OPENBLAS_CORETYPE={AVX512_CORE}",
                _reference_worker_run(reps, {"OPENBLAS_CORETYPE": AVX512_CORE}),
            )
        )
    judged = runs[-1][0]
    for label, result in runs:
        ours, theirs = result["numpy"], result["torch"]
        ratio = ours / theirs
        note = f"OpenBLAS kernels {result['blas_core']}, torch {result['threads']} threads, best of {reps}"
        if not result["close"]:
            note += "; outputs differ!"
        row(
            f"{name} ({label}; {note})",
            f"{ms(ours)} / {ms(theirs)} = {ratio:.2f}×",
            "≤ 1.5×",
            verdict(ratio, 1.5) if label == judged else "(for comparison)",
        )


def _reference_worker_run(reps: int, env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [PY, __file__, "--reference-worker", str(reps)],
        capture_output=True,
        text=True,
        env={**BASE_ENV, **env},
        check=True,
    )
    return dict(json.loads(result.stdout.splitlines()[-1]))


def reference_worker(reps: int) -> None:
    """Time both forwards in this process and print one JSON line (``--reference-worker``).

    Timed in blocks (every torch run, then every numpy run, twice over), best of each: runs
    interleaved one by one slow each other down, because OpenBLAS's and torch's worker threads
    keep spinning for a while after a call returns.
    """
    import numpy as np
    import torch

    from rnncalc import frameworks
    from rnncalc.core.spec import spec_from_mapping

    pytorch = frameworks.get("torch")

    spec = spec_from_mapping(
        {"cell": "lstm", "input_size": 256, "hidden_size": 512, "batch_size": 32, "seq_len": 100}
    )
    module = torch.nn.LSTM(256, 512)
    x = torch.randn(100, 32, 256)
    weights = pytorch.to_canonical(spec, {k: v.detach().numpy() for k, v in module.state_dict().items()})
    x_np = x.numpy()

    def run_torch() -> Any:
        with torch.no_grad():
            return module(x)

    def run_numpy() -> Any:
        return pytorch.reference_forward(spec, weights, x_np)

    times: dict[str, list[float]] = {"torch": [], "numpy": []}
    for _ in range(2):
        for label, run in (("torch", run_torch), ("numpy", run_numpy)):
            run()
            times[label].extend(_timed(run) for _ in range(max(1, reps // 2)))
    expected = run_torch()[0].numpy()
    got = run_numpy()
    print(
        json.dumps(
            {
                "torch": min(times["torch"]),
                "numpy": min(times["numpy"]),
                "threads": torch.get_num_threads(),
                "close": bool(np.allclose(got["output"], expected, atol=1e-4)),
                "blas_core": _openblas_core(),
                "avx512": _cpu_has_avx512(),
            }
        )
    )


def _cpu_has_avx512() -> bool:
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.exists() and "avx512f" in cpuinfo.read_text()


def _openblas_core() -> str:
    """The kernel set numpy's bundled OpenBLAS chose ("Haswell", "SkylakeX", ...), or "?"."""
    import ctypes

    import numpy as np

    libs = sorted(Path(np.__file__).parent.parent.glob("numpy.libs/*openblas*"))
    for lib in libs:
        handle = ctypes.CDLL(str(lib))
        for symbol in ("scipy_openblas_get_corename64_", "openblas_get_corename64_", "openblas_get_corename"):
            corename = getattr(handle, symbol, None)
            if corename is not None:
                corename.restype = ctypes.c_char_p
                return str(corename().decode())
    return "?"


def _timed_stdin(argv: Sequence[str], stdin: bytes) -> float:
    """Wall time of ``argv`` reading ``stdin``; its stdout is discarded, exit 1 (a check
    failed) is accepted, anything else raises."""
    start = time.perf_counter()
    result = subprocess.run(
        argv, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=BASE_ENV, check=False
    )
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.decode()[-400:]}")
    return elapsed


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def describe_machine() -> str:
    try:
        mem_kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory = f"{mem_kib / 2**20:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        memory = "? GiB"
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, {memory} RAM, "
        f"Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=40, help="start-up repetitions per command [40]")
    parser.add_argument("--quick", action="store_true", help="5 repetitions, 1 for the anchors")
    parser.add_argument("--only", choices=["startup", "throughput", "check", "reference"], action="append")
    parser.add_argument("--reference-worker", type=int, metavar="REPS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference_worker:
        reference_worker(args.reference_worker)
        return
    reps = 5 if args.quick else args.reps
    anchor_reps = 1 if args.quick else 3
    print(f"rnncalc benchmarks on {describe_machine()}; rnncalc run as: {' '.join(RNNCALC)}\n")
    chosen = args.only or ["startup", "throughput", "check", "reference"]
    if "startup" in chosen:
        bench_startup(reps, anchor_reps)
        print()
    if "throughput" in chosen:
        bench_throughput()
        print()
    if "check" in chosen:
        bench_check(max(3, reps // 4))
        print()
    if "reference" in chosen:
        bench_reference(5 if args.quick else 10)


if __name__ == "__main__":
    main()
