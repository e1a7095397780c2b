"""Source code of runnable scripts that build a spec's exact model in Keras 3 and in PyTorch.

Each script prints the model's weights (name and shape), runs it once on zeros and prints the
shape of everything it returns, and ends with a line holding only the parameter count, so a
test (or a learner) can compare it with the calculator. A framework that cannot express the
spec gets a comment saying why instead of code. Pure: imports no framework; the scripts do.
"""

from __future__ import annotations

from rnncalc.core.calc import keras_report, keras_unsupported, torch_unsupported
from rnncalc.core.errors import SpecError
from rnncalc.core.spec import Cell, Framework, MergeMode, Spec
from rnncalc.frameworks import probe_spec
from rnncalc.frameworks.base import CLASS_NAMES, KERAS_LAYER_NAMES
from rnncalc.summary.render import FRAMEWORK_TITLES, describe_spec


def snippet(spec: Spec, framework: Framework) -> str:
    """The script for one framework (a comment when it cannot build ``spec``)."""
    if spec.input_size is None:
        raise SpecError("input_size", "is required to write code that builds the model")
    if framework is Framework.TORCH:
        return torch_snippet(spec)
    return keras_snippet(spec)


def snippets(spec: Spec, frameworks: tuple[Framework, ...] = tuple(Framework)) -> dict[Framework, str]:
    """One script per framework, in the order given."""
    return {framework: snippet(spec, framework) for framework in frameworks}


def _header(spec: Spec, framework: Framework) -> str:
    return f'"""{FRAMEWORK_TITLES[framework]}: {describe_spec(spec)}. Written by rnncalc."""\n\n'


def _unsupported(spec: Spec, framework: Framework, reason: str) -> str:
    return f"# {FRAMEWORK_TITLES[framework]} cannot build this model ({describe_spec(spec)}):\n# {reason}.\n"


def _quote(text: str) -> str:
    """A Python string literal in double quotes (names here never hold quotes or backslashes)."""
    return f'"{text}"'


#: The line length of ruff's and black's defaults: the scripts come out already formatted.
LINE_LENGTH = 88


def _call(name: str, args: list[str], before: str = "", after: str = "") -> str:
    """``before + name(a, b) + after`` on one line, or one argument per line (with the trailing
    comma that keeps formatters from joining them) when that is too long."""
    line = f"{before}{name}({', '.join(args)}){after}"
    if len(line) <= LINE_LENGTH:
        return line
    return f"{before}{name}(\n" + "".join(f"    {arg},\n" for arg in args) + f"){after}"


# --- Keras 3 ------------------------------------------------------------------------------------


def keras_snippet(spec: Spec) -> str:
    """A functional Keras model built as :func:`rnncalc.frameworks.keras.build` does."""
    reason = keras_unsupported(spec)
    if reason:
        return _unsupported(spec, Framework.KERAS, reason)
    seq_len = "None" if spec.seq_len is None else str(spec.seq_len)
    if spec.batch_size is not None:
        input_line = f"inputs = keras.Input(batch_shape=({spec.batch_size}, {seq_len}, {spec.input_size}))"
    else:
        input_line = f"inputs = keras.Input(shape=({seq_len}, {spec.input_size}))  # (time steps, features)"
    class_name = CLASS_NAMES[(Framework.KERAS, spec.cell)]
    lines = [input_line, "x = inputs"]
    for index, layer in enumerate(keras_report(spec).layers):
        last = index == spec.num_layers - 1
        inner_name = layer.name
        if spec.bidirectional:
            inner_name = layer.name.replace("bidirectional", KERAS_LAYER_NAMES[spec.cell])
        args = [str(spec.hidden_size)]
        if spec.cell is Cell.RNN:
            args.append(f"activation={_quote(spec.nonlinearity.value)}")
        if spec.cell is Cell.GRU:
            args.append(f"reset_after={spec.reset_after}")
        if not spec.bias:
            args.append("use_bias=False")
        if spec.return_sequences or not last:
            args.append("return_sequences=True")
        if spec.return_state and last:
            args.append("return_state=True")
        args.append(f"name={_quote(inner_name)}")
        if spec.bidirectional:
            # Bidirectional copies the layer it wraps for the backward direction.
            merge = "None" if spec.merge_mode is MergeMode.NONE else _quote(spec.merge_mode.value)
            lines.append(_call(f"keras.layers.{class_name}", args, before="rnn = "))
            wrapper = ["rnn", f"merge_mode={merge}", f"name={_quote(layer.name)}"]
            lines.append(_call("keras.layers.Bidirectional", wrapper, before="x = ", after="(x)"))
        else:
            lines.append(_call(f"keras.layers.{class_name}", args, before="x = ", after="(x)"))
    lines.append("model = keras.Model(inputs, x)")
    probe = probe_spec(spec)
    outputs = [name for name, _ in keras_report(spec).outputs]
    run = [
        f"zeros = keras.ops.zeros(({probe.batch_size}, {probe.seq_len}, {spec.input_size}))"
        "  # (batch, time steps, features)",
    ]
    unpack = f"{', '.join(outputs)} = model(zeros)"
    if len(unpack) > LINE_LENGTH:
        unpack = "(\n" + "".join(f"    {name},\n" for name in outputs) + ") = model(zeros)"
    run.append(unpack)
    body = "\n".join(
        [
            *lines,
            "",
            "for weight in model.weights:",
            "    print(weight.path, tuple(weight.shape))",
            *run,
            *(f"print({_quote(name)}, tuple({name}.shape))" for name in outputs),
            "print(model.count_params())",
        ]
    )
    return (
        _header(spec, Framework.KERAS)
        + "import os\n\n"
        + "# Silence TensorFlow's start-up logs; both must be set before keras is imported.\n"
        + 'os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"\n'
        + 'os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"\n'
        + 'os.environ.setdefault("KERAS_BACKEND", "tensorflow")\n\n'
        + "import keras\n\n"
        + body
        + "\n"
    )


# --- PyTorch --------------------------------------------------------------------------------------


def torch_snippet(spec: Spec) -> str:
    """``nn.RNN``/``nn.LSTM``/``nn.GRU`` with every keyword spelled out, run once on zeros."""
    reason = torch_unsupported(spec)
    if reason:
        return _unsupported(spec, Framework.TORCH, reason)
    class_name = CLASS_NAMES[(Framework.TORCH, spec.cell)]
    args = [
        f"input_size={spec.input_size}",
        f"hidden_size={spec.hidden_size}",
        f"num_layers={spec.num_layers}",
    ]
    if spec.cell is Cell.RNN:
        args.append(f"nonlinearity={_quote(spec.nonlinearity.value)}")
    args += [f"bias={spec.bias}", f"batch_first={spec.batch_first}", f"bidirectional={spec.bidirectional}"]
    if spec.cell is Cell.LSTM:
        args.append(f"proj_size={spec.proj_size}")
    probe = probe_spec(spec)
    if spec.unbatched:
        shape, layout = f"({probe.seq_len}, {spec.input_size})", "(time, features): unbatched"
    elif spec.batch_first:
        shape = f"({probe.batch_size}, {probe.seq_len}, {spec.input_size})"
        layout = "(batch, time, features)"
    else:
        shape = f"({probe.seq_len}, {probe.batch_size}, {spec.input_size})"
        layout = "(time, batch, features)"
    states = "(h_n, c_n)" if spec.cell is Cell.LSTM else "h_n"
    prints = ['print("output", tuple(output.shape))', 'print("h_n", tuple(h_n.shape))']
    if spec.cell is Cell.LSTM:
        prints.append('print("c_n", tuple(c_n.shape))')
    body = "\n".join(
        [
            _call(f"nn.{class_name}", args, before="model = "),
            "",
            "for name, parameter in model.named_parameters():",
            "    print(name, tuple(parameter.shape))",
            f"x = torch.zeros{shape}  # {layout}",
            "with torch.no_grad():",
            f"    output, {states} = model(x)",
            *prints,
            "print(sum(p.numel() for p in model.parameters()))",
        ]
    )
    return _header(spec, Framework.TORCH) + "import torch\nfrom torch import nn\n\n" + body + "\n"
