"""The bounds every input is held to, so that no input can make rnncalc hang or exhaust memory.

Each limit is far above any real model and comes with the reason it exists; options raise
the ones a user can legitimately need more of (``--max-file-size``).
"""

from __future__ import annotations

#: Largest size (hidden, input, projection, batch, time, units, vocabulary): the largest
#: 32-bit signed integer. No real model comes near it, and shapes beyond it are typos or
#: attacks that would make every count and shape a number no framework can build.
MAX_SIZE = 2**31 - 1
#: Largest number of elements in one weight tensor: its float32 size in bytes must fit in a
#: signed 64-bit integer, or PyTorch refuses it ("Storage size calculation overflowed", which
#: ``nn.LSTM(5, 2**31 - 1, device="meta")`` raises).
MAX_TENSOR_ELEMENTS = (2**63 - 1) // 4
#: Recurrent layers in one model (``num_layers`` summed over its blocks), and dense heads.
MAX_LAYERS = 1024
MAX_HEADS = 1024
#: Specs one command line may expand to (``-H 64,128 -l 1,2`` is 4).
MAX_COMBINATIONS = 10_000
#: Rows of one ``sweep`` (cells x hidden sizes), and rows x sequence lengths: each row costs
#: every length, and 900 rows x 100,000 lengths took 8 s.
MAX_SWEEP_ROWS = 1_000
MAX_SWEEP_WORK = 10_000_000
#: Nesting of lists and mappings in a config file (a model needs 5).
MAX_DEPTH = 64
#: Default largest config file, in bytes; ``--max-file-size`` raises it. JSONL files and
#: streams are read a line at a time, so this bounds each line instead.
DEFAULT_MAX_FILE_SIZE = 4 * 2**20
#: Sequence lengths read from one ``--lengths`` list or ``@file``.
MAX_LENGTHS = 100_000
