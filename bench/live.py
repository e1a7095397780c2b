"""``rnncalc.inspect(module)`` of a live 100 M-parameter LSTM model against ``torchinfo.summary``.

    python bench/live.py              # 7 runs of each, interleaved
    python bench/live.py --reps 3

Builds, once, a language model of about 100 M parameters (``nn.Embedding(10000, 1024)``, a
2-layer ``nn.LSTM(1024, 2048)``, ``nn.Linear(2048, 16000)``), then times, in this process and
interleaved: ``rnncalc.inspect(model)`` (no forward pass: the state dict's names and shapes,
the module tree, the conventions' reports), ``torchinfo.summary(model, input_data=tokens)``
(the usual call: one forward pass on a batch of 1 × 32 tokens, hooks on every module) and
``torchinfo.summary(model)`` (no input: parameters only). Prints the medians. Each tool is run
once before timing, so neither pays for its first imports. Needs torch and torchinfo
(``pip install 'rnncalc[bench]'``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from run import describe_machine, ms


def language_model() -> Any:
    import torch
    from torch import nn

    class LanguageModel(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(10_000, 1024)
            self.lstm = nn.LSTM(1024, 2048, num_layers=2, batch_first=True)
            self.head = nn.Linear(2048, 16_000)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return self.head(self.lstm(self.embed(tokens))[0])

    torch.manual_seed(0)
    return LanguageModel().eval()


def timed(run: Callable[[], Any], reps: int) -> list[float]:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()

    import torch
    import torchinfo

    import rnncalc

    model = language_model()
    params = sum(p.numel() for p in model.parameters())
    tokens = torch.zeros(1, 32, dtype=torch.long)
    runs: dict[str, Callable[[], Any]] = {
        "rnncalc.inspect(model)": lambda: rnncalc.inspect(model),
        "torchinfo.summary(model, input_data=tokens)": lambda: torchinfo.summary(
            model, input_data=tokens, verbose=0
        ),
        "torchinfo.summary(model)  (no forward pass)": lambda: torchinfo.summary(model, verbose=0),
    }
    assert rnncalc.inspect(model)["total_params"] == params
    for run in runs.values():  # imports and first-call costs, not timed
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.reps):
        for name, run in runs.items():
            times[name] += timed(run, 1)
    print(f"{describe_machine()}; torch {torch.__version__}, torchinfo {torchinfo.__version__}")
    print(f"model: {params:,} parameters; median of {args.reps} runs each, interleaved")
    for name, found in times.items():
        print(f"  {name:<46} {ms(statistics.median(found)):>10}   (min {ms(min(found))})")


if __name__ == "__main__":
    main()
