"""Property: a whole model (an optional embedding, one to three recurrent blocks that differ,
layer norms and dropout between them, up to two dense heads acting per step or on the last step)
built in the real source framework with random nonzero weights and saved as its users save it,
converted by ``rnncalc convert --no-verify`` along each of the twelve directions between PyTorch
(``.pt`` or ``.safetensors``), Keras (``.keras``), Flax NNX (``.msgpack``) and ONNX (``.onnx``),
then loaded as users load the target, computes what the source computes within 1e-5.

The sources are independent of rnncalc's builders where the framework allows: PyTorch is a module
this test defines (its own ``forward``, the last step taken from ``h_n`` as users do), saved with
``torch.save(module.state_dict())`` or safetensors' ``save_file``; ONNX is that module exported by
``torch.onnx.export(..., dynamo=False)``, except where a head takes the last step (the exporter's
``Gemm(transB=1)`` is not read: its own test below), where it is rnncalc's ``model_graph`` with
random initializers; Keras is a ``keras.Sequential`` of Keras's own layers saved with
``model.save``. Flax has no file format recording an architecture: its source is the NNX module
``FlaxConvention.build_model`` makes (the module rnncalc's msgpack names follow) with random
values set, saved as Flax's docs save a state (``msgpack_serialize(nnx.to_pure_dict(...))``).
State dicts and msgpack do not record the architecture, so ``--model`` states it; so it does for
ONNX, whose activations, epsilons and dropouts are graph nodes convert does not read.

Models a target cannot express (``model_report(model).reason``) are discarded with ``assume``;
a GRU's ``b_hn``, which Flax's ``nnx.GRUCell`` cannot hold, makes every conversion of a non-Flax
GRU to Flax a refusal, which is asserted. A safetensors file's names are sorted, so it does not
keep the chain's order: there a one-line refusal is accepted in place of the conversion
(:func:`unplaceable`); a conversion that goes ahead must still compute the source's outputs.
The default suite runs every direction once on a fixed nontrivial model (embedding, two blocks
that differ, norms, dropout, two heads); ``pytest -m slow`` draws 150 fresh models per direction.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from rnncalc.cli import cli
from rnncalc.core.model import Dense, Dropout, Embedding, LayerNorm, Model, Part, model_config
from rnncalc.core.parts import DenseActivation
from rnncalc.core.spec import Cell, Spec
from rnncalc.frameworks import get

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
pytest.importorskip("keras")
pytest.importorskip("flax")
ort = pytest.importorskip("onnxruntime")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

FORMATS = {"torch": ".pt", "keras": ".keras", "flax": ".msgpack", "onnx": ".onnx"}
DIRECTIONS = [(source, target) for source in FORMATS for target in FORMATS if source != target]
#: Activations every framework has under the same meaning (Keras 3's defaults).
ACTIVATIONS = [None, DenseActivation.RELU, DenseActivation.TANH, DenseActivation.SIGMOID,
               DenseActivation.SOFTMAX]  # fmt: skip
BATCH, STEPS = 2, 4
#: Layer norm epsilons drawn: Flax's ``nnx.LayerNorm`` computes the variance as E[x²] − E[x]²
#: (``use_fast_variance``), which loses digits when a norm's one or two features are nearly
#: equal; an epsilon of 1e-5 then magnifies that past 1e-5 (measured: 2.9e-5, Flax → ONNX).
EPSILONS = [1e-3, 1e-2]
TOLERANCE = 1e-5


# --- the models ------------------------------------------------------------------------------


@st.composite
def blocks(draw: st.DrawFn) -> Spec:
    """A small recurrent block, batch-major (what convert writes)."""
    return Spec(
        cell=draw(st.sampled_from(Cell)),
        hidden_size=draw(st.integers(1, 5)),
        num_layers=draw(st.integers(1, 2)),
        bidirectional=draw(st.booleans()),
        batch_first=True,
    )


@st.composite
def models(draw: st.DrawFn) -> Model:
    """An embedding or not, one to three blocks, norms and dropout between them, up to two heads
    that all act per step or all on the last step. Two blocks with no norm between them differ
    in cell, size or direction: like ones are one deeper block where a file holds a tensor
    group per layer (Keras, Flax, ONNX), and convert reads them so."""
    parts: list[Part] = []
    if draw(st.booleans()):
        parts.append(Embedding(draw(st.integers(2, 12)), draw(st.integers(1, 5))))
    previous: Spec | None = None
    for _ in range(draw(st.integers(1, 3))):
        block = draw(blocks())
        if previous is not None:
            normed = draw(st.booleans())
            if normed:
                parts.append(LayerNorm(epsilon=draw(st.sampled_from(EPSILONS))))
            if draw(st.booleans()):
                parts.append(Dropout(draw(st.sampled_from([0.0, 0.25]))))
            assume(normed or not like(block, previous))
        elif not parts:
            block = block.replace(input_size=draw(st.integers(1, 4)))
        parts.append(block)
        previous = block
    heads = draw(st.integers(0, 2))
    per_step = draw(st.booleans())
    if heads and draw(st.booleans()):
        parts.append(LayerNorm(epsilon=draw(st.sampled_from(EPSILONS))))
    for _ in range(heads):
        activation = draw(st.sampled_from(ACTIVATIONS))
        parts.append(Dense(draw(st.integers(1, 4)), bias=draw(st.booleans()), activation=activation,
                           per_step=per_step))  # fmt: skip
    sequences = not heads or per_step
    assume(len(parts) > 1)  # one bare block converts as a stack (tests/test_convert*.py)
    shaped = tuple(p.replace(return_sequences=sequences) if isinstance(p, Spec) else p for p in parts)
    return Model(parts=shaped, batch_first=True, return_sequences=sequences)


#: Embedding → bidirectional LSTM ×2 → layer norm → dropout → GRU → layer norm → two heads on the
#: last step: every kind of part, two blocks that differ.
NONTRIVIAL = Model(
    parts=(
        Embedding(11, 4),
        Spec(cell=Cell.LSTM, hidden_size=3, num_layers=2, bidirectional=True, batch_first=True),
        LayerNorm(epsilon=1e-3),
        Dropout(0.25),
        Spec(cell=Cell.GRU, hidden_size=5, batch_first=True),
        LayerNorm(),
        Dense(4, activation=DenseActivation.TANH, per_step=False),
        Dense(3, activation=DenseActivation.SOFTMAX, per_step=False),
    ),
    batch_first=True,
)
#: The same shape with an RNN second block, which Flax holds from every source.
NONTRIVIAL_RNN = Model(
    parts=(
        *NONTRIVIAL.parts[:4],
        Spec(cell=Cell.RNN, hidden_size=5, batch_first=True),
        *NONTRIVIAL.parts[5:],
    ),
    batch_first=True,
)


def model_input(model: Model, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    if model.embedding is not None:
        return rng.integers(0, model.embedding.vocab_size, size=(BATCH, STEPS))
    assert model.input_size is not None
    return rng.standard_normal((BATCH, STEPS, model.input_size)).astype(np.float32)


def random_values(shape: tuple[int, ...], rng: Any) -> Any:
    """Nonzero values of either sign, away from zero so no weight vanishes."""
    magnitude = rng.uniform(0.1, 0.6, size=shape)
    return (magnitude * rng.choice([-1.0, 1.0], size=shape)).astype(np.float32)


# --- the sources, built in their own frameworks ----------------------------------------------


def _torch_class() -> type:
    class Net(torch.nn.Module):  # type: ignore[misc,name-defined]
        """The model as a user writes it: named modules, a forward that takes the last step
        of the last block from ``h_n`` (forward direction's last step, backward's first)."""

        def __init__(self, model: Model) -> None:
            super().__init__()
            self.model = model
            self.names: list[str] = []
            size = model.input_size
            for index, part in enumerate(model.parts):
                if isinstance(part, Embedding):
                    name, module = "embed", torch.nn.Embedding(part.vocab_size, part.dim)
                elif isinstance(part, Spec):
                    cls = {Cell.RNN: torch.nn.RNN, Cell.LSTM: torch.nn.LSTM, Cell.GRU: torch.nn.GRU}
                    name = f"rnn{index}"
                    module = cls[part.cell](size, part.hidden_size, num_layers=part.num_layers,
                                            bidirectional=part.bidirectional, batch_first=True)  # fmt: skip
                    size = part.hidden_size * part.num_directions
                elif isinstance(part, LayerNorm):
                    name, module = f"norm{index}", torch.nn.LayerNorm(size, eps=part.epsilon)
                elif isinstance(part, Dropout):
                    name, module = f"drop{index}", torch.nn.Dropout(part.rate)
                else:
                    name, module = f"fc{index}", torch.nn.Linear(size, part.units, bias=part.bias)
                    size = part.units
                self.add_module(name, module)
                self.names.append(name)

        def forward(self, x: Any) -> Any:
            for index, (name, part) in enumerate(zip(self.names, self.model.parts, strict=True)):
                module = getattr(self, name)
                if isinstance(part, Spec):
                    x, state = module(x)
                    if index == self.model.last_block and self.model.last_step:
                        h_n = state[0] if part.cell is Cell.LSTM else state
                        x = torch.cat(list(h_n[-part.num_directions :]), dim=-1)
                    continue
                x = module(x)
                if isinstance(part, Dense) and part.activation is not None:
                    x = {
                        DenseActivation.RELU: torch.relu,
                        DenseActivation.TANH: torch.tanh,
                        DenseActivation.SIGMOID: torch.sigmoid,
                        DenseActivation.SOFTMAX: lambda v: torch.softmax(v, -1),
                    }[part.activation](x)
            return x

    return Net


def torch_module(model: Model, seed: int) -> Any:
    module = _torch_class()(model).eval()
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.from_numpy(random_values(tuple(parameter.shape), rng)))
    return module


def run_torch(module: Any, x: Any) -> Any:
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def keras_model(model: Model, seed: int) -> Any:
    """A ``keras.Sequential`` of Keras's own layers; a block of two layers is two Keras layers
    (the first returning sequences); dense heads per step are ``TimeDistributed(Dense)``."""
    import keras

    if model.embedding is not None:
        stack: list[Any] = [keras.Input((STEPS,), dtype="int32")]
    else:
        stack = [keras.Input((STEPS, model.input_size))]
    cls = {Cell.RNN: keras.layers.SimpleRNN, Cell.LSTM: keras.layers.LSTM, Cell.GRU: keras.layers.GRU}
    for index, part in enumerate(model.parts):
        if isinstance(part, Embedding):
            stack.append(keras.layers.Embedding(part.vocab_size, part.dim))
        elif isinstance(part, Spec):
            for layer in range(part.num_layers):
                last = index == model.last_block and layer == part.num_layers - 1
                sequences = not (last and model.last_step)
                rnn = cls[part.cell](part.hidden_size, return_sequences=sequences)
                stack.append(keras.layers.Bidirectional(rnn) if part.bidirectional else rnn)
        elif isinstance(part, LayerNorm):
            stack.append(keras.layers.LayerNormalization(epsilon=part.epsilon))
        elif isinstance(part, Dropout):
            stack.append(keras.layers.Dropout(part.rate))
        else:
            activation = part.activation.value if part.activation else None
            dense = keras.layers.Dense(part.units, use_bias=part.bias, activation=activation)
            stack.append(keras.layers.TimeDistributed(dense) if part.per_step else dense)
    built = keras.Sequential(stack)
    rng = np.random.default_rng(seed)
    for variable in built.weights:
        variable.assign(random_values(tuple(variable.shape), rng))
    return built


def flax_module(model: Model, seed: int) -> Any:
    from flax import nnx

    from rnncalc.frameworks.flax import CONVENTION as FLAX

    module = FLAX.build_model(model)
    rng = np.random.default_rng(seed)
    state = nnx.state(module, nnx.Param)
    nnx.update(module, _jax_map(lambda leaf: random_values(tuple(leaf.shape), rng), state))
    return module


def _jax_map(function: Any, tree: Any) -> Any:
    import jax

    return jax.tree.map(function, tree)


def run_flax(module: Any, model: Model, x: Any) -> Any:
    import jax.numpy as jnp

    dtype = jnp.int32 if model.embedding is not None else jnp.float32
    return np.asarray(module(jnp.asarray(x, dtype=dtype)))


def run_onnx(path: Path, x: Any) -> Any:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    dtype = np.int64 if "int" in graph_input.type else np.float32
    (output,) = session.run(None, {graph_input.name: x.astype(dtype)})
    return output


@dataclass(frozen=True)
class Source:
    """A saved source file and what its own framework computes on ``x``."""

    path: Path
    expected: Any


def save_source(framework: str, model: Model, folder: Path, seed: int, safetensors: bool) -> Source:
    x = model_input(model, seed)
    if framework in ("torch", "onnx"):
        module = torch_module(model, seed)
        if framework == "onnx" and model.last_step:
            return onnx_graph_source(model, folder, seed, x)
        if framework == "onnx":
            path = folder / "source.onnx"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, (torch.from_numpy(x),), str(path), dynamo=False)
            return Source(path, run_onnx(path, x))
        if safetensors:
            from safetensors.torch import save_file

            path = folder / "source.safetensors"
            save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
        else:
            path = folder / "source.pt"
            torch.save(module.state_dict(), path)
        return Source(path, run_torch(module, x))
    if framework == "keras":
        built = keras_model(model, seed)
        path = folder / "source.keras"
        built.save(path)
        return Source(path, np.asarray(built(x)))
    from flax import nnx, serialization

    module = flax_module(model, seed)
    path = folder / "source.msgpack"
    path.write_bytes(serialization.msgpack_serialize(nnx.to_pure_dict(nnx.state(module, nnx.Param))))
    return Source(path, run_flax(module, model, x))


def onnx_graph_source(model: Model, folder: Path, seed: int, x: Any) -> Source:
    """rnncalc's own graph (``model_graph``) with random initializers: ``torch.onnx.export``
    writes ``nn.Linear`` on the last step as ``Gemm(transB=1)`` holding the weight as
    ``(units, in)``, which convert does not read (see the test of that refusal below)."""
    import onnx

    from rnncalc.frameworks.onnx import build, model_graph

    plan = model_graph(model)
    rng = np.random.default_rng(seed)
    shapes = {t.name: tuple(d for d in t.shape if isinstance(d, int)) for t in plan.initializers}
    weights = {name: random_values(shape, rng) for name, shape in shapes.items()}
    path = folder / "source.onnx"
    onnx.save(build(plan, weights), str(path))
    return Source(path, run_onnx(path, x))


# --- the targets, loaded as users load them --------------------------------------------------


def run_target(path: Path, model: Model, x: Any) -> Any:
    if path.suffix == ".keras":
        import keras

        return np.asarray(keras.saving.load_model(path, safe_mode=True)(x))
    if path.suffix == ".onnx":
        return run_onnx(path, x)
    if path.suffix == ".msgpack":
        from flax import nnx, serialization

        from rnncalc.frameworks.flax import CONVENTION as FLAX

        module = FLAX.build_model(model)
        state = nnx.state(module, nnx.Param)
        nnx.replace_by_pure_dict(state, serialization.msgpack_restore(path.read_bytes()))
        nnx.update(module, state)
        return run_flax(module, model, x)
    from rnncalc.frameworks.torch import build_model

    module = build_model(model)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        module.load_state_dict(load_file(str(path)), strict=True)
    else:
        module.load_state_dict(torch.load(path, weights_only=True), strict=True)
    return run_torch(module, x)


# --- the property ----------------------------------------------------------------------------


def convert(source: Path, target: Path, model: Model | None) -> Any:
    args = ["convert", str(source), "-o", str(target), "--no-verify"]
    if model is not None:
        config = source.with_name("model.json")
        config.write_text(json.dumps(model_config(model)))
        args += ["--model", str(config)]
    return CliRunner().invoke(cli, args)


def records_architecture(framework: str) -> bool:
    """Only a ``.keras`` file's config is read for the architecture: an ONNX graph holds its
    activations, epsilons and dropouts as nodes, but convert reads its initializers only."""
    return framework == "keras"


def flax_refuses(source: str, target: str, model: Model) -> bool:
    """Flax's ``nnx.GRUCell`` has no ``b_hn``: every non-Flax GRU source holds a nonzero one."""
    return target == "flax" and source != "flax" and any(b.cell is Cell.GRU for b in model.layers)


def expressible(model: Model, *frameworks: str) -> bool:
    return all(get(framework).model_report(model).reason is None for framework in frameworks)


def unplaceable(source: str, safetensors: bool) -> bool:
    """True when convert may not find the stated model's parts in the file (it then refuses in
    one line: not one chain, or ``--model`` describes other parts): safetensors' ``save_file``
    sorts the names, so the file does not keep the chain's order, and ``--model`` does not
    guide the reading."""
    return source == "torch" and safetensors


def like(before: Spec, after: Spec) -> bool:
    """Blocks a file holding a tensor group per layer cannot tell from one deeper block."""
    return (before.cell, before.hidden_size, before.bidirectional) == (
        after.cell, after.hidden_size, after.bidirectional
    )  # fmt: skip


def outcome(label: str) -> None:
    """Counted in ``--hypothesis-show-statistics`` when a property draws the model."""
    if currently_in_test_context():
        event(label)


def check_direction(
    source: str,
    target: str,
    model: Model,
    folder: Path,
    seed: int,
    safetensors: bool = False,
    drawn: bool = True,
) -> None:
    """Convert ``model`` from ``source`` to ``target`` and compare the outputs, or assert the
    refusal Flax owes a GRU with ``b_hn``; a ``drawn`` model may also meet the refusal
    :func:`unplaceable` allows. ``safetensors``: PyTorch's side is a safetensors file."""
    folder.mkdir(parents=True, exist_ok=True)
    saved = save_source(source, model, folder, seed, safetensors)
    suffix = ".safetensors" if target == "torch" and safetensors else FORMATS[target]
    destination = folder / f"target{suffix}"
    result = convert(saved.path, destination, None if records_architecture(source) else model)
    if drawn and result.exit_code and unplaceable(source, safetensors):
        assert result.exit_code == 2 and result.stdout == ""
        (line,) = result.stderr.splitlines()
        assert line.startswith("rnncalc: error: ")
        assert not destination.exists()
        outcome("refused: a safetensors file's sorted names")
        return
    if flax_refuses(source, target, model):
        assert result.exit_code == 2, result.output
        assert "b_hn" in result.stderr and "Traceback" not in result.output
        assert not destination.exists()
        outcome("refused: b_hn on the way to Flax")
        return
    assert result.exit_code == 0, result.output
    outcome("converted")
    got = run_target(destination, model, model_input(model, seed))
    assert got.shape == saved.expected.shape
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, saved.expected, atol=TOLERANCE, rtol=0)


SLOW = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize(("source", "target"), DIRECTIONS, ids=[f"{s}-{t}" for s, t in DIRECTIONS])
def test_a_nontrivial_model_converts_to_what_the_source_computes(
    source: str, target: str, tmp_path: Path
) -> None:
    """Both PyTorch formats on each side: safetensors from PyTorch to Keras and ONNX and from
    ONNX to PyTorch, ``torch.save`` otherwise; a refusal fails."""
    model = NONTRIVIAL_RNN if target == "flax" else NONTRIVIAL
    assert expressible(model, source, target)
    safetensors = (source, target) in (("torch", "keras"), ("torch", "onnx"), ("onnx", "torch"))
    check_direction(source, target, model, tmp_path, seed=7, safetensors=safetensors, drawn=False)


@pytest.mark.parametrize("source", [s for s in FORMATS if s != "flax"])
def test_a_gru_with_b_hn_is_refused_on_the_way_to_flax(source: str, tmp_path: Path) -> None:
    check_direction(source, "flax", NONTRIVIAL, tmp_path, seed=3, drawn=False)


def test_without_model_the_verdict_names_what_a_state_dict_does_not_record(tmp_path: Path) -> None:
    """The same state dict without ``--model``: the heads' step and activation and the norms'
    epsilon are assumed, each named in the verify line, and the PyTorch module computes
    something else (its softmax and epsilon are not in the file)."""
    saved = save_source("torch", NONTRIVIAL, tmp_path, seed=5, safetensors=False)
    result = CliRunner().invoke(cli, ["convert", str(saved.path), "-o", str(tmp_path / "t.onnx")])
    assert result.exit_code == 0, result.output
    verdict = result.stdout.splitlines()[1]
    assert "ok, assuming" in verdict
    for assumed in ("fc6 on the last step", "fc7 on the last step", "epsilon 1e-05",
                    "no activation after fc6", "no activation after fc7"):  # fmt: skip
        assert assumed in verdict
    got = run_onnx(tmp_path / "t.onnx", model_input(NONTRIVIAL, 5))
    assert not np.allclose(got, saved.expected, atol=TOLERANCE)


def test_a_torch_export_with_heads_on_the_last_step_converts_from_its_gemms(tmp_path: Path) -> None:
    """``torch.onnx.export`` (TorchScript) writes ``nn.Linear`` on a ``(N, F)`` input as
    ``Gemm(transB=1)`` holding ``fc.weight`` as PyTorch does, ``(units, in)``: convert reads it
    transposed, and the Keras model computes what the exported module computes."""
    module = torch_module(NONTRIVIAL, 9)
    source = tmp_path / "exported.onnx"
    x = model_input(NONTRIVIAL, 9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.from_numpy(x),), str(source), dynamo=False)
    result = convert(source, tmp_path / "t.keras", NONTRIVIAL)
    assert result.exit_code == 0, result.output
    got = run_target(tmp_path / "t.keras", NONTRIVIAL, x)
    np.testing.assert_allclose(got, run_torch(module, x), atol=TOLERANCE)


def test_a_flax_state_is_read_in_the_order_of_its_nnx_list(tmp_path: Path) -> None:
    """A state's keys are sorted, but ``layers.N`` is the order the model runs its modules in:
    a dense head that keeps the features could otherwise be placed before the next block
    (hypothesis found this model; it was refused as "--model describes other parts")."""
    model = Model(
        parts=(
            Spec(cell=Cell.RNN, hidden_size=1, input_size=1, bidirectional=True, batch_first=True),
            Spec(cell=Cell.RNN, hidden_size=1, batch_first=True),
            Dense(2, bias=False, per_step=False),
            Dense(2, bias=False, per_step=False),
        ),
        batch_first=True,
    )
    check_direction("flax", "torch", model, tmp_path, seed=0, drawn=False)


@pytest.mark.slow
@pytest.mark.parametrize(("source", "target"), DIRECTIONS, ids=[f"{s}-{t}" for s, t in DIRECTIONS])
@SLOW
@given(model=models(), seed=st.integers(0, 2**16), safetensors=st.booleans())
def test_many_fresh_random_models_convert_to_what_the_source_computes(
    source: str, target: str, model: Model, seed: int, safetensors: bool, tmp_path_factory: Any
) -> None:
    assume(expressible(model, source, target))
    folder = tmp_path_factory.mktemp(f"{source}-{target}")
    check_direction(source, target, model, folder, seed, safetensors)
