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
#: Zip archives (``.pt``, ``.keras``): what a member may declare before anything inflates it
#: (:mod:`rnncalc.io.zip_guard`; docs/security.md says why each is set where it is).
#: A member read whole into memory (``data.pkl``, ``config.json``, ``metadata.json``, torch's
#: small records): the safetensors library's bound on its header, the same kind of data. A state
#: dict's pickle takes about 200 bytes a tensor, a Keras config a few kilobytes a layer.
MAX_ZIP_METADATA_BYTES = 100_000_000
#: A compressed member's inflated size over its compressed size. Neither ``torch.save`` nor
#: Keras's ``model.save`` compresses (their members are stored, 1:1); weights deflate to about
#: 1.1:1, and deflate cannot exceed 1032:1. Keras 3.15's own loader refuses over 100:1 too.
MAX_ZIP_RATIO = 100
#: Members this small are not held to the ratio: a short JSON deflates far better than weights,
#: and a megabyte costs nothing to inflate.
ZIP_RATIO_GRACE_BYTES = 2**20
#: The largest compressed member inflated at all: a re-zipped checkpoint's weights are inflated
#: once (into memory by ``torch.load``, to a temporary file for h5py).
MAX_ZIP_INFLATED_BYTES = 4 * 2**30
