"""Numpy forward passes of RNN, LSTM and GRU stacks, written from each framework's equations.

Used by ``rnncalc verify`` to check the real frameworks number by number; imported by nothing
on the analytic path (it imports numpy).

The weights are held framework-neutral (:class:`DirectionWeights`): PyTorch's orientation
(``W_x`` is ``(gates*H, in)``), gate blocks in :data:`CANONICAL_GATES` order, an input and a
recurrent bias. Each framework module (:mod:`rnncalc.frameworks`) converts its own layout a
part or a tensor at a time (``canonical_part``/``tensor_from_canonical``, with the gate-block
helpers below; ``to_canonical``/``from_canonical`` for whole stacks) and arranges
:func:`run_stack`'s results as its real model returns them (``reference_forward``).

Equations (PyTorch ``nn.RNN``/``nn.LSTM``/``nn.GRU`` docs; Keras 3 ``layers/rnn/*.py``), with
Keras's ``activation`` in place of tanh (relu for a relu rnn) and its ``recurrent_activation``
in place of σ (:func:`activate`)::

    RNN   h = act(W_x x + b_x + W_h h + b_h)                     act = tanh | relu
    LSTM  i, f, o = σ(·), g = tanh(·) of W_x x + b_x + W_h h + b_h
          c = f*c + i*g;  h = o*tanh(c);  h = W_hr h  (PyTorch proj_size only)
    GRU   r, z = σ(W_x x + b_x + W_h h + b_h)  (their blocks)
          n = tanh(W_xn x + b_xn + r*(W_hn h + b_hn))   reset_after=True (PyTorch, Keras default)
          n = tanh(W_xn x + b_xn + W_hn (r*h) + b_hn)   reset_after=False (Keras only)
          h = (1-z)*n + z*h

Internally sequences are time-major ``(L, N, F)`` and a Python loop over time runs in float32,
feature-major, writing into preallocated arrays: one product per step for all gates (for RNN
and LSTM with the step's input and the biases in the same product; for GRU the inputs of
every step are projected at once beforehand).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rnncalc.core.calc import GATES
from rnncalc.core.errors import SpecError
from rnncalc.core.spec import Activation, Cell, MergeMode, Nonlinearity, Spec

if TYPE_CHECKING:
    from rnncalc.core.convention import Convention

Array = NDArray[np.float32]
DTYPE = np.float32

#: Gate blocks of :class:`DirectionWeights`, top to bottom (PyTorch's names and order).
CANONICAL_GATES: dict[Cell, tuple[str, ...]] = {
    Cell.RNN: ("h",),
    Cell.LSTM: ("i", "f", "g", "o"),
    Cell.GRU: ("r", "z", "n"),
}


@dataclass(frozen=True, eq=False)
class DirectionWeights:
    """One direction of one layer, in canonical gate order and PyTorch orientation.

    ``w_x`` ``(G*H, in)``, ``w_h`` ``(G*H, R)``, ``b_x`` and ``b_h`` ``(G*H,)`` (zeros when the
    layer has no bias), ``w_hr`` ``(P, H)`` for a projected LSTM, else None. ``R`` is ``P`` when
    there is a projection, else ``H``.
    """

    w_x: Array
    w_h: Array
    b_x: Array
    b_h: Array
    w_hr: Array | None = None

    @property
    def hidden_size(self) -> int:
        return int(self.w_hr.shape[1] if self.w_hr is not None else self.w_h.shape[1])

    @property
    def output_size(self) -> int:
        return int(self.w_h.shape[1])


@dataclass(frozen=True, eq=False)
class StackWeights:
    """Every layer's directions: ``layers[k][d]`` with d = 0 forward, 1 backward."""

    layers: tuple[tuple[DirectionWeights, ...], ...]


@dataclass(frozen=True, eq=False)
class DirectionResult:
    """One direction's pass: outputs ``(L, N, R)`` in input time order and the final states."""

    sequence: Array
    h: Array  # (N, R): the state after the last step processed (t=0 when reversed)
    c: Array | None  # (N, H), LSTM only


# --- Converters: canonical weights as gate blocks -------------------------------------------
#
# Each convention reads one *part* of a direction's canonical weights at a time
# (``Convention.canonical_part``) as its gate blocks, views of the framework's tensor wherever
# its layout allows (a row block, a transposed column block), and assembles each of its own
# tensors from such blocks in one copy (``Convention.tensor_from_canonical``). ``rnncalc
# convert`` so moves a tensor with one copy and one tensor in memory at a time; ``to_canonical``
# and ``from_canonical`` are built from the same two steps.

#: The parts of :class:`DirectionWeights`.
Part = Literal["w_x", "w_h", "b_x", "b_h", "w_hr"]
PARTS: tuple[Part, ...] = ("w_x", "w_h", "b_x", "b_h", "w_hr")
#: One part as its gate blocks in canonical order (``w_hr``: one block).
Blocks = tuple[Array, ...]
#: ``part(direction, name)``: a part of one layer's direction (0 forward, 1 backward); None for
#: a projection the weights do not hold. A bias they do not hold is zeros.
PartGetter = Callable[[int, Part], "Blocks | None"]


def gate_permutation(convention: Convention, cell: Cell) -> list[int]:
    """For each canonical gate, the index of its block in the convention's stacked matrices."""
    aliases = convention.gate_aliases.get(cell, {})
    names = [aliases.get(gate, gate) for gate in convention.gate_order[cell]]
    return [names.index(gate) for gate in CANONICAL_GATES[cell]]


def canonical_blocks(stacked: Array, convention: Convention, cell: Cell) -> Blocks:
    """The gate blocks of ``stacked`` (its rows in the convention's gate order), in canonical
    order: views, nothing copied."""
    blocks = np.split(stacked, GATES[cell], axis=0)
    return tuple(blocks[index] for index in gate_permutation(convention, cell))


#: Bytes of source rows copied at a time while a tensor is assembled, and the unit a mapped
#: source's pages are let go by.
CHUNK_BYTES = 512 << 10
#: Source rows copied at a time into a transposed destination: each destination row then gets
#: 16 float32 values, one 64-byte cache line, per chunk. A 64 MiB kernel transposes in 20 ms
#: so, against 186 ms for ``np.ascontiguousarray(a.T)`` (docs/performance.md, "convert").
TRANSPOSED_ROWS = 16


def copy_rows(block: Array, out: Array) -> None:
    """``out[:] = block`` a chunk of rows at a time; a chunk that views a file mapping has its
    pages let go once copied (:func:`rnncalc.io.mapped.drop`), so a large source tensor is never
    resident beside its copy."""
    from rnncalc.io.mapped import drop

    contiguous = out.flags.c_contiguous
    step = max(1, CHUNK_BYTES // max(1, block[:1].nbytes)) if contiguous else TRANSPOSED_ROWS
    for start in range(0, block.shape[0], step):
        chunk = block[start : start + step]
        out[start : start + len(chunk)] = chunk
        drop(chunk)


def stacked(blocks: Blocks, convention: Convention, cell: Cell, out: Array | None = None) -> Array:
    """Canonical gate ``blocks`` stacked along the rows in the convention's order, copied once
    into ``out`` (a new array when None)."""
    rows = blocks[0].shape[0]
    if out is None:
        out = np.empty((rows * len(blocks), *blocks[0].shape[1:]), dtype=DTYPE)
    for block, position in zip(blocks, gate_permutation(convention, cell), strict=True):
        copy_rows(block, out[position * rows : (position + 1) * rows])
    return out


def stacked_transposed(blocks: Blocks, convention: Convention, cell: Cell) -> Array:
    """Canonical gate ``blocks`` ``(H, in)`` as a transposed kernel ``(in, gates*H)`` (Keras's,
    Flax's), gate column blocks in the convention's order, copied once."""
    out = np.empty((blocks[0].shape[1], blocks[0].shape[0] * len(blocks)), dtype=DTYPE)
    stacked(blocks, convention, cell, out=out.T)
    return out


def copied(block: Array) -> Array:
    """``block`` copied contiguous by :func:`copy_rows`, walking the rows of whichever of
    ``block`` and ``block.T`` is contiguous: a transposed view of a mapped tensor (a Keras
    kernel read as PyTorch's weight) is then copied in its file's order, and its pages go as
    they are copied."""
    out = np.empty(block.shape, dtype=DTYPE)
    if block.ndim == 2 and not block.flags.c_contiguous and block.T.flags.c_contiguous:
        copy_rows(block.T, out.T)
    else:
        copy_rows(block, out)
    return out


def transposed(block: Array) -> Array:
    """One block ``(H, in)`` copied as ``(in, H)``, contiguous."""
    return copied(block.T)


def joined(blocks: Blocks) -> Array:
    """The canonical matrix (or vector) of a part: its blocks one under the other, contiguous."""
    return np.ascontiguousarray(np.concatenate(blocks), dtype=DTYPE)


def held(part: PartGetter, direction: int, name: Part) -> Blocks:
    """``part(direction, name)`` for a part every direction holds: all but ``w_hr`` (a bias the
    weights do not keep comes as zeros)."""
    blocks = part(direction, name)
    assert blocks is not None, f"{name} of direction {direction} is missing"
    return blocks


def lookup(weights: Mapping[str, ArrayLike], path: str) -> Array:
    """``weights[path]`` as float32 (not copied when it is already), or a KeyError naming what
    there is."""
    if path not in weights:
        raise KeyError(f"weight {path!r} is missing (have: {', '.join(weights)})")
    return np.asanyarray(weights[path], dtype=DTYPE)


def f32(value: ArrayLike) -> Array:
    return np.ascontiguousarray(np.asarray(value, dtype=DTYPE))


def largest_difference(first: ArrayLike, second: ArrayLike) -> float | None:
    """max |first − second| over arrays of one shape, in float64 (0 when empty); None when
    either holds a NaN or an infinity: such an output agrees with nothing, whatever the
    tolerance (``nan > atol`` is false, so a bare comparison would let it pass)."""
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return None
    return float(np.abs(a - b).max()) if a.size else 0.0


def random_weights(spec: Spec, seed: int = 0) -> StackWeights:
    """Weights drawn like PyTorch's init, ``U(-1/sqrt(H), 1/sqrt(H))``, for benchmarks.

    Needs ``spec.input_size``. Not any framework's weights: use a convention's
    ``to_canonical`` to compare with a real model.
    """
    if spec.input_size is None:
        raise SpecError("input_size", "is required to draw weights")
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(spec.hidden_size)
    rows = GATES[spec.cell] * spec.hidden_size
    out_size = spec.proj_size or spec.hidden_size

    def draw(*shape: int) -> Array:
        return rng.uniform(-bound, bound, size=shape).astype(DTYPE)

    def zeros_or_draw() -> Array:
        return draw(rows) if spec.bias else np.zeros(rows, dtype=DTYPE)

    layers = []
    input_size = spec.input_size
    for _ in range(spec.num_layers):
        layers.append(
            tuple(
                DirectionWeights(
                    draw(rows, input_size),
                    draw(rows, out_size),
                    zeros_or_draw(),
                    zeros_or_draw(),
                    draw(spec.proj_size, spec.hidden_size) if spec.proj_size else None,
                )
                for _ in range(spec.num_directions)
            )
        )
        # Only concatenation widens the next layer's input; sum, mul and ave keep one width.
        input_size = (spec.num_directions if spec.merge_mode is MergeMode.CONCAT else 1) * out_size
    return StackWeights(tuple(layers))


# --- One direction ---------------------------------------------------------------------------


def _sigmoid_(a: Array) -> None:
    """In-place logistic sigmoid; exp overflow for very negative inputs correctly gives 0."""
    with np.errstate(over="ignore"):
        np.negative(a, out=a)
        np.exp(a, out=a)
        a += 1.0
        np.reciprocal(a, out=a)


def run_direction(
    cell: Cell,
    x: ArrayLike,
    weights: DirectionWeights,
    *,
    reverse: bool = False,
    nonlinearity: Nonlinearity = Nonlinearity.TANH,
    reset_after: bool = True,
    activation: Activation | None = None,
    recurrent_activation: Activation = Activation.SIGMOID,
    h0: ArrayLike | None = None,
    c0: ArrayLike | None = None,
) -> DirectionResult:
    """Run one direction over a time-major sequence ``x`` ``(L, N, I)`` from the states ``h0``
    ``(N, R)`` and ``c0`` ``(N, H)`` (zeros when None).

    ``activation`` (Keras; default: ``nonlinearity`` for rnn, tanh otherwise) and
    ``recurrent_activation`` (the gates'; default sigmoid) other than the defaults take a plain
    per-step loop (:func:`_run_general`); the defaults take the tuned loops below.

    The loops work feature-major: gates are ``(G*H, N)`` and states ``(H, N)``, so the products
    are ``W @ h`` with the weights as stored and each gate is a contiguous block of rows. For
    the course's LSTM sizes BLAS runs that product about 10 % faster than ``h @ W.T`` with its
    AVX2 kernels and 1.7× faster with its AVX-512 ones.
    """
    xs = f32(x)
    if xs.shape[2] != weights.w_x.shape[1]:
        raise ValueError(f"input has {xs.shape[2]} features, weights expect {weights.w_x.shape[1]}")
    order = range(xs.shape[0] - 1, -1, -1) if reverse else range(xs.shape[0])
    batch = xs.shape[1]
    h_start = np.zeros((batch, weights.output_size), dtype=DTYPE) if h0 is None else f32(h0)
    c_start = np.zeros((batch, weights.hidden_size), dtype=DTYPE) if c0 is None else f32(c0)
    default = Activation(nonlinearity.value) if cell is Cell.RNN else Activation.TANH
    act = activation or default
    if act is not default or recurrent_activation is not Activation.SIGMOID:
        return _run_general(
            cell, xs, weights, order, (act, recurrent_activation), reset_after, h_start, c_start
        )
    if cell is Cell.GRU:
        return _run_gru(xs, weights, order, reset_after, h_start)
    return _run_rnn_or_lstm(cell, xs, weights, order, nonlinearity, h_start, c_start)


def _run_rnn_or_lstm(
    cell: Cell,
    xs: Array,
    w: DirectionWeights,
    order: range,
    nonlinearity: Nonlinearity,
    h0: Array,
    c0: Array,
) -> DirectionResult:
    """RNN and LSTM: one product per step, ``[W_h | W_x | b] @ [h; x_t; 1]``.

    Both biases and the input projection ride in the step's product (the column of ones picks
    up ``b_x + b_h``), so no pass over the gates adds them: 10 % faster than projecting every
    step's input at once and adding it, which reads a strided slice per step.
    """
    steps, batch, features = xs.shape
    hidden, recurrent = w.hidden_size, w.output_size
    stacked = np.concatenate([w.w_h, w.w_x, (w.b_x + w.b_h)[:, None]], axis=1)
    if cell is Cell.LSTM:
        # σ(z) = (1 + tanh(z/2)) / 2. Halving the i, f and o rows (exact in binary floating
        # point) lets one tanh over all four gate blocks serve for g and the sigmoids alike.
        stacked[: 2 * hidden] *= 0.5
        stacked[3 * hidden :] *= 0.5
    # The step operand [h; x_t; 1]; h is its first rows, written in place by each step.
    operand = np.empty((recurrent + features + 1, batch), dtype=DTYPE)
    h = operand[:recurrent]
    h[...] = h0.T
    operand[-1] = 1.0
    inputs = xs.transpose(0, 2, 1)  # (L, I, N) views of each step's input, feature-major
    out = np.empty((steps, batch, recurrent), dtype=DTYPE)
    gates = np.empty((w.w_h.shape[0], batch), dtype=DTYPE)
    c = np.array(c0.T, dtype=DTYPE)  # the LSTM's cell state
    tmp = np.empty((hidden, batch), dtype=DTYPE)
    i, f, g, o = (gates[k * hidden : (k + 1) * hidden] for k in range(4))  # LSTM gate blocks
    for t in order:
        operand[recurrent:-1] = inputs[t]
        np.matmul(stacked, operand, out=gates)
        if cell is Cell.RNN:
            if nonlinearity is Nonlinearity.TANH:
                np.tanh(gates, out=h)
            else:
                np.maximum(gates, 0.0, out=h)
        else:
            np.tanh(gates, out=gates)
            for sigmoid_gates in (gates[: 2 * hidden], o):
                sigmoid_gates *= 0.5
                sigmoid_gates += 0.5
            c *= f
            np.multiply(i, g, out=tmp)
            c += tmp
            unprojected = h if w.w_hr is None else tmp
            np.tanh(c, out=unprojected)
            unprojected *= o
            if w.w_hr is not None:
                np.matmul(w.w_hr, tmp, out=h)
        out[t] = h.T
    return DirectionResult(out, h.T.copy(), c.T.copy() if cell is Cell.LSTM else None)


def _run_gru(xs: Array, w: DirectionWeights, order: range, reset_after: bool, h0: Array) -> DirectionResult:
    """GRU: the candidate needs its input and recurrent parts apart, so every step's input
    projection is computed at once, ``(3H, L*N)``, and added per step; ``b_h`` stays apart."""
    steps, batch, features = xs.shape
    hidden = w.hidden_size
    # Columns t*N..(t+1)*N are step t.
    projected = w.w_x @ xs.reshape(steps * batch, features).T
    projected += w.b_x[:, None]
    b_h = w.b_h[:, None]
    out = np.empty((steps, batch, hidden), dtype=DTYPE)
    h = np.array(h0.T, dtype=DTYPE)
    gates = np.empty((w.w_h.shape[0], batch), dtype=DTYPE)
    tmp = np.empty((hidden, batch), dtype=DTYPE)
    rz, n = gates[: 2 * hidden], gates[2 * hidden :]
    for t in order:
        step_in = projected[:, t * batch : (t + 1) * batch]
        if reset_after:
            np.matmul(w.w_h, h, out=gates)
            gates += b_h
            rz += step_in[: 2 * hidden]
            _sigmoid_(rz)
            n *= rz[:hidden]
        else:  # W_hn multiplies r*h, so the product is split by blocks
            np.matmul(w.w_h[: 2 * hidden], h, out=rz)
            rz += step_in[: 2 * hidden]
            rz += b_h[: 2 * hidden]
            _sigmoid_(rz)
            np.matmul(w.w_h[2 * hidden :], rz[:hidden] * h, out=n)
            n += b_h[2 * hidden :]
        n += step_in[2 * hidden :]
        np.tanh(n, out=n)
        np.subtract(h, n, out=tmp)
        tmp *= rz[hidden:]
        np.add(n, tmp, out=h)
        out[t] = h.T
    return DirectionResult(out, h.T.copy(), None)


def activate(name: Activation, a: Array) -> Array:
    """``keras.activations.<name>`` (Keras 3 ``activations/activations.py``) on float32 ``a``;
    hard_sigmoid is ``relu6(x + 3) / 6``."""
    if name is Activation.TANH:
        return np.tanh(a)
    if name is Activation.RELU:
        return np.maximum(a, DTYPE(0))
    if name is Activation.SIGMOID:
        result = np.array(a, dtype=DTYPE)
        _sigmoid_(result)
        return result
    if name is Activation.HARD_SIGMOID:
        return f32(np.clip((a + DTYPE(3)) / DTYPE(6), DTYPE(0), DTYPE(1)))
    return np.array(a, dtype=DTYPE)  # linear


def _run_general(
    cell: Cell,
    xs: Array,
    w: DirectionWeights,
    order: range,
    activations: tuple[Activation, Activation],
    reset_after: bool,
    h0: Array,
    c0: Array,
) -> DirectionResult:
    """Any activation and gate activation: the equations written out, one step at a time."""
    act, gate = activations
    hidden = w.hidden_size
    h, c = np.array(h0.T, dtype=DTYPE), np.array(c0.T, dtype=DTYPE)
    out = np.empty((xs.shape[0], xs.shape[1], w.output_size), dtype=DTYPE)
    for t in order:
        px = w.w_x @ xs[t].T + w.b_x[:, None]
        if cell is Cell.RNN:
            h = activate(act, px + w.w_h @ h + w.b_h[:, None])
        elif cell is Cell.LSTM:
            z = px + w.w_h @ h + w.b_h[:, None]
            i, f, o = (activate(gate, z[k * hidden : (k + 1) * hidden]) for k in (0, 1, 3))
            c = f * c + i * activate(act, z[2 * hidden : 3 * hidden])
            h = o * activate(act, c)
            if w.w_hr is not None:
                h = w.w_hr @ h
        else:
            ph = w.w_h @ h + w.b_h[:, None]
            r = activate(gate, px[:hidden] + ph[:hidden])
            update = activate(gate, px[hidden : 2 * hidden] + ph[hidden : 2 * hidden])
            if reset_after:
                recurrent = r * ph[2 * hidden :]
            else:
                recurrent = w.w_h[2 * hidden :] @ (r * h) + w.b_h[2 * hidden :, None]
            n = activate(act, px[2 * hidden :] + recurrent)
            h = (1 - update) * n + update * h
        out[t] = h.T
    return DirectionResult(out, f32(h.T), f32(c.T) if cell is Cell.LSTM else None)


# --- Stacks ----------------------------------------------------------------------------------


def merge_directions(parts: tuple[Array, ...], mode: MergeMode) -> Array:
    """Keras ``Bidirectional`` merge of the two directions' outputs (PyTorch: concat)."""
    if len(parts) == 1:
        return parts[0]
    forward, backward = parts
    if mode is MergeMode.SUM:
        return forward + backward
    if mode is MergeMode.MUL:
        return forward * backward
    if mode is MergeMode.AVE:
        return (forward + backward) / DTYPE(2)
    if mode is MergeMode.CONCAT:
        return np.concatenate(parts, axis=-1)
    raise ValueError("merge_mode none returns the directions apart; there is nothing to merge")


def run_stack(
    spec: Spec, weights: StackWeights, x: ArrayLike, merge: MergeMode = MergeMode.CONCAT
) -> list[tuple[DirectionResult, ...]]:
    """Every layer's directions on a time-major ``x`` ``(L, N, I)``.

    With ``spec.go_backwards`` (Keras) each layer reads its input from the last step back and
    its ``sequence`` is in that order, reversed in time, as Keras returns it and the next
    layer reads it.

    Each layer's directions are merged with ``merge`` before feeding the next layer.
    """
    if len(weights.layers) != spec.num_layers:
        raise ValueError(f"weights have {len(weights.layers)} layers, spec has {spec.num_layers}")
    results = []
    sequence = f32(x)
    for index, layer in enumerate(weights.layers):
        directions = tuple(
            run_direction(
                spec.cell,
                sequence,
                direction,
                reverse=(d == 1) != spec.go_backwards,
                nonlinearity=spec.nonlinearity,
                reset_after=spec.reset_after,
                activation=spec.cell_activation,
                recurrent_activation=spec.gate_activation,
            )
            for d, direction in enumerate(layer)
        )
        if spec.go_backwards:
            # Keras go_backwards returns the sequence in the order it ran: reversed in time.
            directions = tuple(DirectionResult(r.sequence[::-1], r.h, r.c) for r in directions)
        results.append(directions)
        if index < len(weights.layers) - 1:
            sequence = merge_directions(tuple(r.sequence for r in directions), merge)
    return results


def run_step(
    spec: Spec,
    weights: StackWeights,
    x: ArrayLike,
    states: tuple[tuple[ArrayLike, ArrayLike | None], ...],
) -> list[DirectionResult]:
    """One time step of each layer's cell (``spec.step``) on ``x`` ``(N, I)`` from the given
    states, ``states[k] = (h0, c0)`` (``c0`` for LSTM only); layer ``k+1`` takes layer ``k``'s
    new ``h``. Each result's ``sequence`` is ``(1, N, R)``."""
    if len(weights.layers) != len(states):
        raise ValueError(f"weights have {len(weights.layers)} layers, states {len(states)}")
    results = []
    step_input = f32(x)
    for (direction,), (h0, c0) in zip(weights.layers, states, strict=True):
        result = run_direction(
            spec.cell,
            step_input[None],
            direction,
            nonlinearity=spec.nonlinearity,
            reset_after=spec.reset_after,
            activation=spec.cell_activation,
            recurrent_activation=spec.gate_activation,
            h0=h0,
            c0=c0,
        )
        results.append(result)
        step_input = result.h
    return results


def time_forward(spec: Spec, repeats: int = 3, seed: int = 0) -> float:
    """Best wall time in seconds of :func:`run_stack` on :func:`random_weights` and a random
    time-major input ``(L, N, I)`` (unknown batch and length: 32 and 100), for benchmarks."""
    import time

    sized = spec.replace(
        batch_size=spec.batch_size or (None if spec.unbatched else 32), seq_len=spec.seq_len or 100
    )
    weights = random_weights(sized, seed)
    assert sized.input_size is not None and sized.seq_len is not None
    batch = 1 if sized.unbatched else sized.batch_size or 1
    x = np.random.default_rng(seed).standard_normal((sized.seq_len, batch, sized.input_size))
    x = x.astype(DTYPE)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run_stack(sized, weights, x)
        best = min(best, time.perf_counter() - start)
    return best
