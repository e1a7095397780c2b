"""``rnncalc inspect`` of a 2 GiB file against a small one: the time must not grow with the size.

    python bench/inspect_files.py            # 2 GiB files, 15 runs each
    python bench/inspect_files.py --gib 0.5 --reps 5

Writes, in a temporary directory, a small and a large file of each format whose reading should
cost the same: ``.safetensors`` (an LSTM's tensors plus an embedding of 1 KiB or 2 GiB, real
bytes on disk) and ``.keras`` (a real Keras model saved by Keras, and the same archive with its
embedding grown to the requested size, written with h5py in chunks as Keras lays it out). Then
times fresh ``rnncalc inspect FILE --format json`` processes, small and large interleaved, and
prints the medians beside the target (large file under 0.3 s, about the small file's time).
Needs the environment rnncalc is installed in, with Keras and h5py (and safetensors, to check
that the written file is one the real library reads).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from run import BASE_ENV, QUIET_TF, RNNCALC, describe_machine, ms

TARGET_SECONDS = 0.3
CHUNK_ROWS = 1 << 16
EMBED_DIM = 128


def write_safetensors(path: Path, vocab: int) -> int:
    """An LSTM(64, 128) state dict plus an embedding of ``vocab`` × 128 float32, data written
    for real in chunks. Returns the element count."""
    hidden, features = 128, EMBED_DIM
    shapes = {
        "embed.weight": [vocab, features],
        "rnn.weight_ih_l0": [4 * hidden, features],
        "rnn.weight_hh_l0": [4 * hidden, hidden],
        "rnn.bias_ih_l0": [4 * hidden],
        "rnn.bias_hh_l0": [4 * hidden],
    }
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 4 * _prod(shape)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    with open(path, "wb") as handle:
        handle.write(len(text).to_bytes(8, "little") + text)
        zeros = bytes(4 * features * CHUNK_ROWS)
        remaining = offset
        while remaining:
            step = min(remaining, len(zeros))
            handle.write(zeros[:step])
            remaining -= step
    return sum(_prod(shape) for shape in shapes.values())


def write_keras_pair(directory: Path, vocab: int) -> tuple[Path, Path, int]:
    """A Keras-saved model (embedding 1000 × 128 → LSTM 128 → Dense 10) and a copy whose
    embedding has ``vocab`` rows; returns both paths and the large one's parameter count."""
    os.environ.update(QUIET_TF)
    import h5py
    import keras
    import numpy as np

    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((20,), dtype="int32"),
            layers.Embedding(1000, EMBED_DIM),
            layers.LSTM(128),
            layers.Dense(10),
        ]
    )
    small = directory / "small.keras"
    model.save(small)
    large = directory / "large.keras"
    weights = directory / "large.weights.h5"
    with zipfile.ZipFile(small) as archive:
        config = json.loads(archive.read("config.json"))
        metadata = archive.read("metadata.json")
        with (
            archive.open("model.weights.h5") as member,
            h5py.File(member) as source,
            h5py.File(weights, "w") as out,
        ):

            def copy(name: str, item: object) -> None:
                if not isinstance(item, h5py.Dataset):
                    return
                if name == "layers/embedding/vars/0":
                    grown = out.create_dataset(name, shape=(vocab, EMBED_DIM), dtype="float32")
                    block = np.zeros((CHUNK_ROWS, EMBED_DIM), "float32")
                    for start in range(0, vocab, CHUNK_ROWS):
                        stop = min(vocab, start + CHUNK_ROWS)
                        grown[start:stop] = block[: stop - start]
                else:
                    out.create_dataset(name, data=item[()])

            source.visititems(copy)
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Embedding":
            layer["config"]["input_dim"] = vocab
    with zipfile.ZipFile(large, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", metadata)
        archive.writestr("config.json", json.dumps(config))
        archive.write(weights, "model.weights.h5")
    weights.unlink()
    return small, large, model.count_params() + (vocab - 1000) * EMBED_DIM


def _prod(shape: list[int]) -> int:
    total = 1
    for size in shape:
        total *= size
    return total


def inspect_total(path: Path) -> int:
    out = subprocess.run(
        [*RNNCALC, "inspect", str(path), "-f", "json"], capture_output=True, env=BASE_ENV, check=True
    ).stdout
    return int(json.loads(out)["total_params"])


def timed(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [*RNNCALC, "inspect", str(path), "-f", "json"], stdout=subprocess.DEVNULL, env=BASE_ENV, check=True
    )
    return time.perf_counter() - start


def timed_floor(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=BASE_ENV, check=True)
    return time.perf_counter() - start


def compare(label: str, small: Path, large: Path, floor: str, reps: int) -> None:
    """Small file, large file and the floor (``python -c FLOOR``: the imports reading that
    format cannot avoid), interleaved; medians."""
    timed(small), timed(large), timed_floor(floor)  # warm the page cache and the bytecode
    small_times, large_times, floor_times = [], [], []
    for _ in range(reps):
        small_times.append(timed(small))
        large_times.append(timed(large))
        floor_times.append(timed_floor(floor))
    s, g, f = (statistics.median(times) for times in (small_times, large_times, floor_times))
    size = large.stat().st_size / 2**30
    verdict = "ok" if g <= TARGET_SECONDS else "MISSED"
    print(
        f"  {label:<12} small {small.stat().st_size / 2**10:>6.0f} KiB {ms(s):>9}   "
        f"large {size:.2f} GiB {ms(g):>9}   ratio {g / s:.2f}×   target < {TARGET_SECONDS} s  {verdict}\n"
        f"  {'':<12} floor `python -c {floor!r}` {ms(f)}: rnncalc adds {ms(g - f)} to it"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0, help="size of the large files [2]")
    parser.add_argument("--reps", type=int, default=15, help="runs of each file [15]")
    args = parser.parse_args()
    vocab = int(args.gib * 2**30) // (4 * EMBED_DIM)
    print(f"rnncalc inspect on {describe_machine()}; median of {args.reps} fresh processes each\n")
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        small_st, large_st = directory / "small.safetensors", directory / "large.safetensors"
        write_safetensors(small_st, 2)
        expected = write_safetensors(large_st, vocab)
        assert inspect_total(large_st) == expected
        try:
            from safetensors import safe_open

            with safe_open(str(large_st), "numpy") as opened:  # the real library reads it too
                assert len(list(opened.keys())) == 5
        except ImportError:
            pass
        compare("safetensors", small_st, large_st, "import click", args.reps)
        small_keras, large_keras, expected = write_keras_pair(directory, vocab)
        assert inspect_total(large_keras) == expected
        compare(".keras", small_keras, large_keras, "import click", args.reps)


if __name__ == "__main__":
    main()
