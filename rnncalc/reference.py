"""Numpy forward passes of RNN, LSTM and GRU stacks, written from each framework's equations.

Used by ``rnncalc verify`` to check the real frameworks number by number; imported by nothing
on the analytic path (it imports numpy).

The weights are held framework-neutral (:class:`DirectionWeights`): PyTorch's orientation
(``W_x`` is ``(gates*H, in)``), gate blocks in :data:`CANONICAL_GATES` order, an input and a
recurrent bias. :func:`from_torch` and :func:`from_keras` convert each framework's layout;
:func:`torch_forward` and :func:`keras_forward` return the tensors each framework returns.

Equations (PyTorch ``nn.RNN``/``nn.LSTM``/``nn.GRU`` docs; Keras 3 ``layers/rnn/*.py``)::

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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rnncalc.core.calc import keras_report, keras_unsupported, torch_report, torch_unsupported
from rnncalc.core.errors import SpecError
from rnncalc.core.report import WeightRow
from rnncalc.core.spec import Cell, Framework, MergeMode, Nonlinearity, Spec
from rnncalc.frameworks.base import GATE_ORDER, GATES, Role

Array = NDArray[np.float32]
DTYPE = np.float32

#: Gate blocks of :class:`DirectionWeights`, top to bottom (PyTorch's names and order).
CANONICAL_GATES: dict[Cell, tuple[str, ...]] = {
    Cell.RNN: ("h",),
    Cell.LSTM: ("i", "f", "g", "o"),
    Cell.GRU: ("r", "z", "n"),
}

#: A framework's gate name → the canonical one, where they differ. Keras calls the LSTM cell
#: candidate ``c`` (PyTorch ``g``) and the GRU candidate ``h`` (PyTorch ``n``).
GATE_ALIASES: dict[tuple[Framework, Cell], dict[str, str]] = {
    (Framework.KERAS, Cell.LSTM): {"c": "g"},
    (Framework.KERAS, Cell.GRU): {"h": "n"},
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


# --- Converters -----------------------------------------------------------------------------


def gate_permutation(framework: Framework, cell: Cell) -> list[int]:
    """For each canonical gate, the index of its block in ``framework``'s stacked matrices."""
    aliases = GATE_ALIASES.get((framework, cell), {})
    names = [aliases.get(gate, gate) for gate in GATE_ORDER[(framework, cell)]]
    return [names.index(gate) for gate in CANONICAL_GATES[cell]]


def _reorder_rows(matrix: Array, framework: Framework, cell: Cell) -> Array:
    """``matrix`` with its gate row blocks moved into canonical order."""
    blocks = np.split(matrix, GATES[cell], axis=0)
    return np.ascontiguousarray(np.concatenate([blocks[i] for i in gate_permutation(framework, cell)]))


def _f32(value: ArrayLike) -> Array:
    return np.ascontiguousarray(np.asarray(value, dtype=DTYPE))


def _layer_rows(spec: Spec, framework: Framework) -> list[list[list[WeightRow]]]:
    """The calculator's weight rows of each layer, split by direction (forward first)."""
    report = torch_report(spec) if framework is Framework.TORCH else keras_report(spec)
    layers = []
    for layer in report.layers:
        directions = ("forward", "backward")[: spec.num_directions]
        layers.append([[w for w in layer.weights if w.direction == d] for d in directions])
    return layers


def _lookup(weights: Mapping[str, ArrayLike], path: str) -> Array:
    if path not in weights:
        raise KeyError(f"weight {path!r} is missing (have: {', '.join(weights)})")
    return _f32(weights[path])


def from_torch(spec: Spec, state_dict: Mapping[str, ArrayLike]) -> StackWeights:
    """Canonical weights from a PyTorch ``state_dict`` (values as numpy arrays).

    PyTorch already stores ``W_ih`` as ``(gates*H, in)`` with two biases per direction; the
    names come from the calculator (``weight_ih_l0``, ``bias_hh_l1_reverse``, ``weight_hr_l0``).
    """
    layers = []
    for directions in _layer_rows(spec, Framework.TORCH):
        converted = []
        for rows in directions:
            by_role: dict[Role, list[Array]] = {}
            for row in rows:
                by_role.setdefault(row.role, []).append(_lookup(state_dict, row.path))
            w_x = _reorder_rows(by_role[Role.INPUT_KERNEL][0], Framework.TORCH, spec.cell)
            w_h = _reorder_rows(by_role[Role.RECURRENT_KERNEL][0], Framework.TORCH, spec.cell)
            zeros = np.zeros(w_x.shape[0], dtype=DTYPE)
            b_x, b_h = by_role.get(Role.BIAS, [zeros, zeros])
            projection = by_role.get(Role.PROJECTION)
            converted.append(
                DirectionWeights(
                    w_x,
                    w_h,
                    _reorder_rows(b_x, Framework.TORCH, spec.cell),
                    _reorder_rows(b_h, Framework.TORCH, spec.cell),
                    projection[0] if projection else None,
                )
            )
        layers.append(tuple(converted))
    return StackWeights(tuple(layers))


def from_keras(spec: Spec, weights: Mapping[str, ArrayLike]) -> StackWeights:
    """Canonical weights from Keras variables keyed by path (``model.weights[i].path``).

    Keras kernels are ``(in, gates*units)``, transposed relative to PyTorch. Its single bias is
    the input bias; GRU with ``reset_after=True`` keeps ``(2, 3*units)``: input bias, then the
    recurrent bias applied inside the reset gate's product.
    """
    layers = []
    for directions in _layer_rows(spec, Framework.KERAS):
        converted = []
        for rows in directions:
            by_role = {row.role: _lookup(weights, row.path) for row in rows}
            w_x = _reorder_rows(by_role[Role.INPUT_KERNEL].T, Framework.KERAS, spec.cell)
            w_h = _reorder_rows(by_role[Role.RECURRENT_KERNEL].T, Framework.KERAS, spec.cell)
            bias = by_role.get(Role.BIAS, np.zeros(w_x.shape[0], dtype=DTYPE))
            b_x, b_h = (bias[0], bias[1]) if bias.ndim == 2 else (bias, np.zeros_like(bias))
            converted.append(
                DirectionWeights(
                    w_x,
                    w_h,
                    _reorder_rows(b_x, Framework.KERAS, spec.cell),
                    _reorder_rows(b_h, Framework.KERAS, spec.cell),
                )
            )
        layers.append(tuple(converted))
    return StackWeights(tuple(layers))


def random_weights(spec: Spec, seed: int = 0) -> StackWeights:
    """Weights drawn like PyTorch's init, ``U(-1/sqrt(H), 1/sqrt(H))``, for benchmarks.

    Needs ``spec.input_size``. Not any framework's weights: use :func:`from_torch` or
    :func:`from_keras` to compare with a real model.
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
) -> DirectionResult:
    """Run one direction over a time-major sequence ``x`` ``(L, N, I)`` from zero states.

    The loops work feature-major: gates are ``(G*H, N)`` and states ``(H, N)``, so the products
    are ``W @ h`` with the weights as stored and each gate is a contiguous block of rows. For
    the course's LSTM sizes BLAS runs that product about 10 % faster than ``h @ W.T`` with its
    AVX2 kernels and 1.7× faster with its AVX-512 ones.
    """
    xs = _f32(x)
    if xs.shape[2] != weights.w_x.shape[1]:
        raise ValueError(f"input has {xs.shape[2]} features, weights expect {weights.w_x.shape[1]}")
    order = range(xs.shape[0] - 1, -1, -1) if reverse else range(xs.shape[0])
    if cell is Cell.GRU:
        return _run_gru(xs, weights, order, reset_after)
    return _run_rnn_or_lstm(cell, xs, weights, order, nonlinearity)


def _run_rnn_or_lstm(
    cell: Cell, xs: Array, w: DirectionWeights, order: range, nonlinearity: Nonlinearity
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
    h[...] = 0.0
    operand[-1] = 1.0
    inputs = xs.transpose(0, 2, 1)  # (L, I, N) views of each step's input, feature-major
    out = np.empty((steps, batch, recurrent), dtype=DTYPE)
    gates = np.empty((w.w_h.shape[0], batch), dtype=DTYPE)
    c = np.zeros((hidden, batch), dtype=DTYPE)  # the LSTM's cell state
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


def _run_gru(xs: Array, w: DirectionWeights, order: range, reset_after: bool) -> DirectionResult:
    """GRU: the candidate needs its input and recurrent parts apart, so every step's input
    projection is computed at once, ``(3H, L*N)``, and added per step; ``b_h`` stays apart."""
    steps, batch, features = xs.shape
    hidden = w.hidden_size
    # Columns t*N..(t+1)*N are step t.
    projected = w.w_x @ xs.reshape(steps * batch, features).T
    projected += w.b_x[:, None]
    b_h = w.b_h[:, None]
    out = np.empty((steps, batch, hidden), dtype=DTYPE)
    h = np.zeros((hidden, batch), dtype=DTYPE)
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


# --- Stacks ----------------------------------------------------------------------------------


def _merge(parts: tuple[Array, ...], mode: MergeMode) -> Array:
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

    Each layer's directions are merged with ``merge`` before feeding the next layer.
    """
    if len(weights.layers) != spec.num_layers:
        raise ValueError(f"weights have {len(weights.layers)} layers, spec has {spec.num_layers}")
    results = []
    sequence = _f32(x)
    for index, layer in enumerate(weights.layers):
        directions = tuple(
            run_direction(
                spec.cell,
                sequence,
                direction,
                reverse=d == 1,
                nonlinearity=spec.nonlinearity,
                reset_after=spec.reset_after,
            )
            for d, direction in enumerate(layer)
        )
        results.append(directions)
        if index < len(weights.layers) - 1:
            sequence = _merge(tuple(r.sequence for r in directions), merge)
    return results


def torch_forward(spec: Spec, weights: StackWeights, x: ArrayLike) -> dict[str, Array]:
    """What ``nn.RNN``/``LSTM``/``GRU`` returns for ``x`` in its layout: output, h_n (, c_n).

    ``x`` is ``(L, N, I)``, ``(N, L, I)`` with ``batch_first``, or ``(L, I)`` unbatched. ``h_n``
    stacks layer 0 forward, layer 0 backward, layer 1 forward, ... on its first axis and is
    never batch-first.
    """
    reason = torch_unsupported(spec)
    if reason:
        raise SpecError("framework", f"PyTorch cannot express this spec: {reason}")
    xs = _f32(x)
    if spec.unbatched:
        xs = xs[:, None, :]
    elif spec.batch_first:
        xs = xs.transpose(1, 0, 2)
    results = run_stack(spec, weights, xs)
    output = _merge(tuple(r.sequence for r in results[-1]), MergeMode.CONCAT)
    h_n = np.stack([r.h for layer in results for r in layer])
    named: dict[str, Array] = {"output": output, "h_n": h_n}
    if spec.cell is Cell.LSTM:
        named["c_n"] = np.stack([r.c for layer in results for r in layer if r.c is not None])
    if spec.unbatched:
        # Both the output (L, 1, F) and the states (D*layers, 1, H) lose their batch axis.
        return {name: np.ascontiguousarray(value[:, 0]) for name, value in named.items()}
    if spec.batch_first:
        named["output"] = named["output"].transpose(1, 0, 2)
    return {name: np.ascontiguousarray(value) for name, value in named.items()}


def keras_forward(spec: Spec, weights: StackWeights, x: ArrayLike) -> dict[str, Array]:
    """What the Keras model for ``spec`` returns for ``x`` ``(N, L, I)``, named as the calculator
    names it: ``output`` (or ``output_forward``/``output_backward`` for merge mode none), then
    with ``return_state`` each direction's ``state_h`` (and ``state_c``).

    All layers but the last return sequences; ``Bidirectional`` runs the backward layer with
    ``go_backwards`` and flips its sequence back before merging.
    """
    reason = keras_unsupported(spec)
    if reason:
        raise SpecError("framework", f"Keras cannot express this spec: {reason}")
    xs = _f32(x).transpose(1, 0, 2)
    last = run_stack(spec, weights, xs, spec.merge_mode)[-1]
    if spec.return_sequences:
        parts = tuple(r.sequence.transpose(1, 0, 2) for r in last)
    else:
        parts = tuple(r.h for r in last)
    named: dict[str, Array] = {}
    if spec.bidirectional and spec.merge_mode is MergeMode.NONE:
        named["output_forward"], named["output_backward"] = parts
    else:
        named["output"] = _merge(parts, spec.merge_mode)
    if spec.return_state:
        prefixes = ("forward_", "backward_") if spec.bidirectional else ("",)
        for prefix, result in zip(prefixes, last, strict=True):
            named[f"{prefix}state_h"] = result.h
            if result.c is not None:
                named[f"{prefix}state_c"] = result.c
    return {name: np.ascontiguousarray(value) for name, value in named.items()}


def forward(framework: Framework, spec: Spec, weights: StackWeights, x: ArrayLike) -> dict[str, Array]:
    """:func:`torch_forward` or :func:`keras_forward`."""
    if framework is Framework.TORCH:
        return torch_forward(spec, weights, x)
    return keras_forward(spec, weights, x)


def convert(framework: Framework, spec: Spec, weights: Mapping[str, Any]) -> StackWeights:
    """:func:`from_torch` or :func:`from_keras`."""
    if framework is Framework.TORCH:
        return from_torch(spec, weights)
    return from_keras(spec, weights)


def time_forward(spec: Spec, repeats: int = 3, seed: int = 0) -> float:
    """Best wall time in seconds of :func:`torch_forward` on :func:`random_weights` and a random
    input in PyTorch's layout (unknown batch and length: 32 and 100), for benchmarks."""
    import time

    sized = spec.replace(
        batch_size=spec.batch_size or (None if spec.unbatched else 32), seq_len=spec.seq_len or 100
    )
    weights = random_weights(sized, seed)
    assert sized.input_size is not None and sized.seq_len is not None
    batch = 1 if sized.unbatched else sized.batch_size or 1
    x = np.random.default_rng(seed).standard_normal((sized.seq_len, batch, sized.input_size))
    x = x.astype(DTYPE)
    if sized.unbatched:
        x = x[:, 0]
    elif sized.batch_first:
        x = np.ascontiguousarray(x.transpose(1, 0, 2))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch_forward(sized, weights, x)
        best = min(best, time.perf_counter() - start)
    return best
