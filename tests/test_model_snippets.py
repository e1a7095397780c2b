"""``rnncalc code FILE`` on whole models: every script runs as it stands in its real framework
and builds the model the convention describes. Its last line, the parameter count the framework
itself computes, equals ``model_report(model).total``; the weight names and shapes the framework
reports equal ``model_report(model).weights``; the module it builds is the adapter's own
(``build_model``, ``model_graph``): the adapter's weights load into it and both give the same
output.

The scripts of one framework run in ONE subprocess (tests/snippet_runner.py), each from the
text ``rnncalc code`` printed.
"""

from __future__ import annotations

import ast
import contextlib
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from snippet_runner import parse_printed, run_snippets

from rnncalc import frameworks
from rnncalc.cli import cli
from rnncalc.cli.explain import SEPARATOR
from rnncalc.core.model import Model
from rnncalc.core.parts import DenseActivation
from rnncalc.frameworks.adapter import probe_model
from rnncalc.io.config import ModelEntry, read_source

REPO = Path(__file__).resolve().parent.parent

#: Whole models written in the test: two recurrent blocks that differ with a layer norm and a
#: dropout between them and two dense heads, time-major features and a last-step head; and
#: a batch-first one with a norm without bias, a relu RNN and a per-step head.
WRITTEN: dict[str, str] = {
    "two_blocks_last_step.yaml": """\
name: two-blocks
layers:
  - {cell: gru, hidden_size: 5, input_size: 6, bidirectional: true}
  - {kind: layer_norm, epsilon: 0.001}
  - {kind: dropout, rate: 0.2}
  - {cell: lstm, hidden_size: 4, num_layers: 2, bidirectional: true}
dense:
  - {units: 7, activation: tanh, per_step: false}
  - {units: 3, activation: softmax}
""",
    "per_step_norms.yaml": """\
name: per-step
batch_first: true
embedding: {vocab_size: 11, dim: 4}
layers:
  - {cell: rnn, hidden_size: 3, nonlinearity: relu}
  - {kind: layer_norm, bias: false}
  - {cell: gru, hidden_size: 5}
  - {kind: dense, units: 6, activation: gelu}
  - {kind: dropout, rate: 0.1}
dense:
  - {units: 2, activation: leaky_relu, per_step: true}
""",
}
#: The repository's examples, read as they are.
EXAMPLES = ("examples/tagger.yaml", "examples/sentiment.yaml", "examples/char_lm.toml")
FILES = (*EXAMPLES, *WRITTEN)
INSTALLED = [name for name in frameworks.names() if frameworks.get(name).is_installed()]


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the written configs and a link to the repository's examples."""
    directory = tmp_path_factory.mktemp("configs")
    for name, text in WRITTEN.items():
        (directory / name).write_text(text)
    (directory / "examples").symlink_to(REPO / "examples")
    return directory


def model_of(config_dir: Path, file: str) -> Model:
    (entry,) = read_source(str(config_dir / file))
    assert isinstance(entry, ModelEntry)
    return entry.model


def code(*args: str) -> str:
    """What ``rnncalc code ARGS`` prints (exit 0 asserted)."""
    result = CliRunner().invoke(cli, ["code", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


#: Flax traces and compiles each model's scans, seconds a model on a shared CPU: the default
#: suite runs one of its scripts (the model of two blocks, norms and heads), ``-m slow`` the rest.
FLAX_DEFAULT = ("two_blocks_last_step.yaml",)


def _pairs(slow: bool) -> list[tuple[str, str]]:
    return [
        (framework, file)
        for framework in INSTALLED
        for file in FILES
        if (framework == "flax" and file not in FLAX_DEFAULT) == slow
    ]


def _run(config_dir: Path, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Each ``(framework, file)``'s script as ``rnncalc code`` prints it, the scripts of one
    framework run in one interpreter."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for framework in INSTALLED:
        files = [file for name, file in pairs if name == framework]
        sources = [code(str(config_dir / file), "-F", framework) for file in files]
        for file, result in zip(files, run_snippets(sources) if sources else [], strict=True):
            out[(framework, file)] = result
    return out


@pytest.fixture(scope="module")
def executed(config_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return _run(config_dir, _pairs(slow=False))


@pytest.fixture(scope="module")
def executed_slow(config_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return _run(config_dir, _pairs(slow=True))


def assert_built_what_the_report_describes(result: dict[str, Any], model: Model, framework: str) -> None:
    """The script ran and printed the report's weight names and shapes (Flax lists its state
    sorted by path, the others in the model's order, as the report does), the output shape at
    the probe sizes and, last, the report's total, counted by the framework."""
    assert result["error"] is None, result["error"]
    report = frameworks.get(framework).model_report(model)
    assert report.supported, report.reason
    printed, count = parse_printed(result["stdout"])
    assert count == report.total.value
    weights = [(row.path, row.shape) for row in report.weights]
    names, outputs = printed[: len(weights)], printed[len(weights) :]
    if framework == "flax":
        names, weights = sorted(names), sorted(weights)
    assert names == weights
    assert outputs == list(frameworks.get(framework).model_report(probe_model(model)).outputs)


@pytest.mark.parametrize(("framework", "file"), _pairs(slow=False))
def test_each_script_builds_the_model_the_convention_describes(
    executed: dict[tuple[str, str], dict[str, Any]], config_dir: Path, file: str, framework: str
) -> None:
    assert_built_what_the_report_describes(executed[(framework, file)], model_of(config_dir, file), framework)


@pytest.mark.slow
@pytest.mark.parametrize(("framework", "file"), _pairs(slow=True))
def test_each_slow_script_builds_the_model_the_convention_describes(
    executed_slow: dict[tuple[str, str], dict[str, Any]], config_dir: Path, file: str, framework: str
) -> None:
    assert_built_what_the_report_describes(
        executed_slow[(framework, file)], model_of(config_dir, file), framework
    )


def test_the_examples_print_the_counts_measured_in_their_files(
    executed: dict[tuple[str, str], dict[str, Any]],
) -> None:
    """The examples' ``expect`` blocks hold counts measured with torch and Keras by hand."""
    measured = {
        ("torch", "examples/tagger.yaml"): 2240401,
        ("keras", "examples/tagger.yaml"): 2239377,
        ("torch", "examples/sentiment.yaml"): 2667649,
        ("keras", "examples/sentiment.yaml"): 2667137,
        ("torch", "examples/char_lm.toml"): 1509984,
        ("keras", "examples/char_lm.toml"): 1509984,
    }
    for (framework, file), count in measured.items():
        if framework in INSTALLED:
            assert parse_printed(executed[(framework, file)]["stdout"])[1] == count


def _exec(source: str) -> dict[str, Any]:
    """The namespace the script leaves, run in this process with its prints discarded."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(source, "<snippet>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("file", list(WRITTEN))
def test_torch_script_module_is_the_adapters_own(config_dir: Path, file: str) -> None:
    """The adapter's state dict loads with strict=True, and both give the same output."""
    torch = pytest.importorskip("torch")
    from rnncalc.frameworks.torch import build_model, model_input

    model = model_of(config_dir, file)
    script = _exec(code(str(config_dir / file), "-F", "torch"))["model"]
    torch.manual_seed(1)
    built = build_model(model)
    script.load_state_dict(built.state_dict(), strict=True)
    x = model_input(model, 2, 3)
    if model.embedding is not None:
        x = torch.randint(0, model.embedding.vocab_size, x.shape)
    else:
        x = torch.randn(x.shape)
    with torch.no_grad():
        torch.testing.assert_close(script(x), built(x), rtol=0, atol=0)


@pytest.mark.parametrize("file", list(WRITTEN))
def test_keras_script_model_is_the_adapters_own(config_dir: Path, file: str) -> None:
    """Same variable paths in the same order; the adapter's values assigned, the same output."""
    pytest.importorskip("keras")
    import numpy as np

    from rnncalc.frameworks.keras import _keras, build_model

    keras = _keras()
    model = model_of(config_dir, file)
    script = _exec(code(str(config_dir / file), "-F", "keras"))["model"]
    keras.utils.set_random_seed(1)
    built = build_model(model)
    assert [w.path for w in script.weights] == [w.path for w in built.weights]
    for mine, theirs in zip(script.weights, built.weights, strict=True):
        mine.assign(theirs)
    x = _random_input(model, np.random.default_rng(0))
    np.testing.assert_array_equal(np.asarray(script(x)), np.asarray(built(x)))


@pytest.mark.parametrize(
    "file",
    ["two_blocks_last_step.yaml", pytest.param("per_step_norms.yaml", marks=pytest.mark.slow)],
)
def test_flax_script_module_is_the_adapters_own(config_dir: Path, file: str) -> None:
    """The adapter's state (seed 1) replaces the script's; both give the same output."""
    pytest.importorskip("flax")
    import numpy as np
    from flax import nnx

    from rnncalc.frameworks.flax import CONVENTION

    model = model_of(config_dir, file)
    script = _exec(code(str(config_dir / file), "-F", "flax"))["model"]
    built = CONVENTION.build_model(model, seed=1)
    nnx.update(script, nnx.state(built, nnx.Param))
    x = _random_input(model, np.random.default_rng(0))
    np.testing.assert_array_equal(np.asarray(script(x)), np.asarray(built(x)))


@pytest.mark.parametrize("file", list(WRITTEN))
def test_onnx_script_graph_is_the_adapters_own(config_dir: Path, file: str) -> None:
    """The script's graph equals the adapter's :func:`model_graph` built with zero weights."""
    pytest.importorskip("onnxruntime")
    from rnncalc.frameworks.onnx import build, model_graph

    model = model_of(config_dir, file)
    script = _exec(code(str(config_dir / file), "-F", "onnx"))["model"]
    assert script.graph == build(model_graph(probe_model(model)), {}).graph


def _random_input(model: Model, rng: Any) -> Any:
    """Token ids, or features, batch-first ``(2, 3, ...)`` as Keras and Flax take them."""
    if model.embedding is not None:
        return rng.integers(0, model.embedding.vocab_size, (2, 3)).astype("int32")
    assert model.input_size is not None
    return rng.standard_normal((2, 3, model.input_size)).astype("float32")


@pytest.mark.parametrize("framework", ["torch", "flax"])
def test_every_dense_activation_in_a_script_is_the_adapters_function(framework: str) -> None:
    """The scripts' ``ACTIVATIONS`` table, from each framework module's sources, computes what
    the adapter's model applies, for every activation a dense layer can name."""
    pytest.importorskip(framework)
    import importlib

    import numpy as np

    module = importlib.import_module(f"rnncalc.frameworks.{framework}")
    values = np.linspace(-3, 3, 24, dtype=np.float32).reshape(2, 12)
    for activation in DenseActivation:
        name = module.ACTIVATIONS[activation]
        default = f"F.{name}" if framework == "torch" else f"jax.nn.{name}"
        source = module.ACTIVATION_SOURCES.get(name, default)
        if framework == "torch":
            import torch
            from torch.nn import functional

            function = eval(source, {"torch": torch, "F": functional})
            x: Any = torch.from_numpy(values)
        else:
            import jax
            import jax.numpy as jnp

            function = eval(source, {"jax": jax, "jnp": jnp})
            x = jnp.asarray(values)
        np.testing.assert_array_equal(np.asarray(function(x)), np.asarray(module._activation(name)(x)))


# --- The command ------------------------------------------------------------------------------


def test_a_file_of_two_models_prints_one_script_per_model_and_framework(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(
        "models:\n"
        "  - {name: a, embedding: {vocab_size: 5, dim: 3}, layers: [{cell: gru, hidden_size: 2}]}\n"
        "  - {name: b, layers: [{cell: lstm, hidden_size: 2, input_size: 3}, {kind: layer_norm}]}\n"
    )
    scripts = code(str(path), "-F", "torch,onnx").split(f"\n{SEPARATOR}\n\n")
    heads = [script.splitlines()[0] for script in scripts]
    assert heads == [
        '"""PyTorch: a, nn.Module: Embedding → GRU. Written by rnncalc."""',
        '"""ONNX: a, graph: Gather → GRU (linear_before_reset=1). Written by rnncalc."""',
        '"""PyTorch: b, nn.Module: LSTM → LayerNorm. Written by rnncalc."""',
        '"""ONNX: b, graph: LSTM → LayerNormalization. Written by rnncalc."""',
    ]
    for script in scripts:
        ast.parse(script)


def test_a_flat_model_file_prints_the_same_script_as_its_flags(tmp_path: Path) -> None:
    path = tmp_path / "flat.yaml"
    path.write_text("cell: lstm\ninput_size: 5\nhidden_size: 8\nnum_layers: 2\nbidirectional: true\n")
    flags = ["-c", "lstm", "-i", "5", "-H", "8", "-l", "2", "--bi", "-F", "all"]
    assert code(str(path), "-F", "all") == code(*flags)


def test_flags_given_with_a_file_override_its_fields(config_dir: Path) -> None:
    source = code(str(config_dir / "examples/tagger.yaml"), "-H", "16", "-F", "torch")
    assert "hidden_size=16" in source
    assert "nn.LayerNorm(32," in source


def test_a_framework_that_cannot_build_the_model_gets_only_a_comment_with_the_reason(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keras_gru.yaml"
    path.write_text(
        "name: old-gru\nembedding: {vocab_size: 9, dim: 3}\n"
        "layers: [{cell: gru, hidden_size: 4, reset_after: false}]\n"
    )
    (torch_source,) = code(str(path), "-F", "torch").split(f"\n{SEPARATOR}\n\n")
    report = frameworks.get("torch").model_report(model_of(tmp_path, "keras_gru.yaml"))
    assert report.reason is not None
    assert all(line.startswith("#") for line in torch_source.splitlines())
    assert report.reason in torch_source
    assert torch_source.startswith("# PyTorch cannot build this model (old-gru, nn.Module: Embedding → GRU):")


def test_a_model_without_an_input_size_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "no_input.yaml"
    path.write_text("layers:\n  - {cell: lstm, hidden_size: 4}\n  - {kind: layer_norm}\n")
    result = CliRunner().invoke(cli, ["code", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert str(path) in line
    assert "input_size" in line
    assert "Traceback" not in result.output


def test_a_hostile_model_name_stays_inside_the_scripts_docstring(tmp_path: Path) -> None:
    """A name from the file (quotes, a newline, a backslash) cannot end the docstring nor add a
    line of code to the script: it is the docstring's text, on one line."""
    import json

    name = 'x"""\nimport shutil; shutil.rmtree("/")  # \\'
    model = {
        "name": name,
        "embedding": {"vocab_size": 4, "dim": 2},
        "layers": [{"cell": "rnn", "hidden_size": 2}],
    }
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(model))
    for source in code(str(path), "-F", "all").split(f"\n{SEPARATOR}\n\n"):
        tree = ast.parse(source)
        docstring = ast.get_docstring(tree, clean=False) or ""
        assert 'x"""\\nimport shutil; shutil.rmtree("/")  # \\, ' in docstring
        assert "\n" not in docstring
        assert not any(
            isinstance(node, ast.Import) and node.names[0].name == "shutil" for node in ast.walk(tree)
        )


@pytest.mark.parametrize("file", list(WRITTEN))
def test_model_scripts_are_already_formatted_and_lint_clean(config_dir: Path, file: str) -> None:
    ruff = [sys.executable, "-m", "ruff", "--isolated"]
    for source in code(str(config_dir / file), "-F", "all").split(f"\n{SEPARATOR}\n\n"):
        source = source.rstrip("\n") + "\n"
        formatted = subprocess.run(
            [*ruff, "format", "--diff", "-"], input=source, capture_output=True, text=True
        )
        assert formatted.returncode == 0, formatted.stdout
        linted = subprocess.run([*ruff, "check", "-"], input=source, capture_output=True, text=True)
        assert linted.returncode == 0, linted.stdout
