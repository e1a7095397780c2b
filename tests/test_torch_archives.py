"""TorchScript (``torch.jit.save`` of ``torch.jit.script`` and ``torch.jit.trace``) and
``torch.export`` (``torch.export.save``, ``.pt2``) archives, built by the real torch: inspect
counts what the module holds, finds the stack with what the archive records of it (an RNN's
nonlinearity), convert's output runs as the torch module does; and none of the archive's code
runs: a hostile pickle or source is refused or read as text, its side effect never happening.
"""

from __future__ import annotations

import json
import pickle
import pickletools
import shutil
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import pytest
from click.testing import Result

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")

from rnncalc.convert import convert  # noqa: E402

if TYPE_CHECKING:
    Tensor: TypeAlias = Any
else:
    Tensor = torch.Tensor

ATOL = 1e-5
BATCH, STEPS = 2, 5
#: (module class, its arguments): the three cells as bidirectional or stacked nn modules.
MODULES: dict[str, tuple[str, dict[str, Any]]] = {
    "lstm": ("LSTM", {"input_size": 3, "hidden_size": 4, "num_layers": 2, "bidirectional": True}),
    "gru": ("GRU", {"input_size": 3, "hidden_size": 5, "num_layers": 2}),
    "rnn_relu": (
        "RNN",
        {"input_size": 4, "hidden_size": 3, "num_layers": 2, "bidirectional": True, "nonlinearity": "relu"},
    ),
}


class Wrapped(torch.nn.Module):  # type: ignore[misc,name-defined]
    """The recurrent module as a model holds it: under an attribute, its output sequence returned."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        name, arguments = MODULES[kind]
        self.encoder = getattr(torch.nn, name)(batch_first=True, **arguments)

    def forward(self, x: Tensor) -> Tensor:  # TorchScript compiles the annotations
        return self.encoder(x)[0]


def _input(kind: str) -> Any:
    features = MODULES[kind][1]["input_size"]
    return np.random.default_rng(7).standard_normal((BATCH, STEPS, features)).astype(np.float32)


def save(model: Any, how: str, path: Path, x: Any) -> None:
    """The model saved as TorchScript (scripted or traced) or as a torch.export archive."""
    example = torch.from_numpy(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if how == "script":
            torch.jit.save(torch.jit.script(model), str(path))
        elif how == "trace":
            torch.jit.save(torch.jit.trace(model, example), str(path))
        else:
            torch.export.save(torch.export.export(model, (example,)), str(path))


def build(kind: str, how: str, directory: Path, suffix: str | None = None) -> tuple[Path, Any]:
    torch.manual_seed(0)
    model = Wrapped(kind).eval()
    path = directory / f"{kind}_{how}{suffix or ('.pt2' if how == 'export' else '.pt')}"
    save(model, how, path, _input(kind))
    return path, model


def run_torch(model: Any, x: Any) -> Any:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


HOWS = ("script", "trace", "export")


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("kind", MODULES)
def test_inspect_finds_the_stack_and_counts_what_the_module_holds(
    kind: str, how: str, tmp_path: Path, run_json: Callable[..., Any]
) -> None:
    path, model = build(kind, how, tmp_path)
    document = run_json("inspect", str(path))
    assert document["format"] == {"script": "torchscript", "trace": "torchscript"}.get(how, "torch.export")
    state = model.state_dict()
    assert document["total_params"] == sum(tensor.numel() for tensor in state.values())
    assert {t["name"]: t["shape"] for t in document["tensors"]} == {
        name: list(tensor.shape) for name, tensor in state.items()
    }
    (layer,) = document["recurrent"]
    module = model.encoder
    assert layer["prefix"] == "encoder"
    assert layer["spec"]["cell"] == type(module).__name__.lower()
    assert (layer["spec"]["hidden_size"], layer["spec"]["num_layers"], layer["spec"]["bidirectional"]) == (
        module.hidden_size,
        module.num_layers,
        module.bidirectional,
    )
    if kind == "rnn_relu":  # recorded by the archive (a state dict would say "tanh assumed")
        assert layer["spec"]["nonlinearity"] == "relu"
        assert not any("nonlinearity" in note for note in layer["notes"])


#: Each archive kind to each target and each cell to each target (a Latin square).
CONVERSIONS = [
    ("lstm", "script", ".keras"),
    ("lstm", "trace", ".onnx"),
    ("lstm", "export", ".safetensors"),
    ("gru", "script", ".onnx"),
    ("gru", "trace", ".safetensors"),
    ("gru", "export", ".keras"),
    ("rnn_relu", "script", ".safetensors"),
    ("rnn_relu", "trace", ".keras"),
    ("rnn_relu", "export", ".onnx"),
]


def load_target(kind: str, path: Path, x: Any) -> Any:
    """The converted file run by its own framework on ``x``."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        torch.manual_seed(99)
        fresh = Wrapped(kind).encoder
        fresh.load_state_dict(load_file(str(path)), strict=True)
        with torch.no_grad():
            return fresh(torch.from_numpy(x))[0].numpy()
    if path.suffix == ".keras":
        keras = pytest.importorskip("keras")
        return np.asarray(keras.models.load_model(path)(x))
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y, *_) = session.run(None, {session.get_inputs()[0].name: x.transpose(1, 0, 2)})
    return y.transpose(2, 0, 1, 3).reshape(BATCH, STEPS, -1)  # [time, dirs, batch, hidden]


@pytest.mark.parametrize(("kind", "how", "target"), CONVERSIONS)
def test_convert_output_runs_as_the_torch_module_does(
    kind: str, how: str, target: str, tmp_path: Path
) -> None:
    path, model = build(kind, how, tmp_path)
    destination = tmp_path / f"converted{target}"
    convert(str(path), str(destination))
    x = _input(kind)
    np.testing.assert_allclose(load_target(kind, destination, x), run_torch(model, x), atol=ATOL, rtol=0)


def test_an_archive_is_known_by_its_content_whatever_its_name(
    tmp_path: Path, run_json: Callable[..., Any]
) -> None:
    script, _ = build("gru", "script", tmp_path, ".PTH")
    exported, _ = build("gru", "export", tmp_path, ".PT2")
    shutil.copy(exported, tmp_path / "exported.bin")
    shutil.copy(script, tmp_path / "scripted")
    formats = [run_json("inspect", str(path))["format"] for path in (script, exported)]
    formats += [run_json("inspect", str(tmp_path / name))["format"] for name in ("exported.bin", "scripted")]
    assert formats == ["torchscript", "torch.export", "torch.export", "torchscript"]


@pytest.mark.parametrize("how", ["trace", "export"])
def test_inspecting_an_archive_imports_no_framework_nor_numpy(how: str, tmp_path: Path) -> None:
    path, _ = build("gru", how, tmp_path)
    code = (
        "import sys\nfrom rnncalc.cli import cli\n"
        f"cli.main(['inspect', {str(path)!r}, '-f', 'json'], standalone_mode=False)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'torch', 'numpy', 'safetensors', 'keras', 'tensorflow', 'h5py', 'onnx'}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert '"format": "torch' in proc.stdout and proc.stdout.rstrip().endswith("[]")


# --- No code of the archive runs -----------------------------------------------------------------


def rewrite(path: Path, changes: dict[str, bytes]) -> None:
    """Replace members of the archive at ``path`` (the rest copied as they are)."""
    with zipfile.ZipFile(path) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in members:
            archive.writestr(info, changes.get(info.filename, data))


def member(path: Path, suffix: str) -> str:
    with zipfile.ZipFile(path) as archive:
        return next(name for name in archive.namelist() if name.endswith(suffix))


class _System:
    """Pickles as ``os.system(command)``: what a hostile archive's pickle would run."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, ...]:
        import os

        return (os.system, (self.command,))


def one_line(result: Result) -> str:
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    return result.stderr


def test_a_pickle_calling_os_system_is_refused_and_never_runs(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    path, _ = build("lstm", "script", tmp_path)
    marker = tmp_path / "marker"
    hostile = pickle.dumps(_System(f"touch {marker}"), protocol=2)
    pickle.loads(hostile)  # the pickle does what it says when a plain unpickler reads it
    assert marker.exists()
    marker.unlink()
    rewrite(path, {member(path, "/data.pkl"): hostile})
    before = path.read_bytes()
    for command in (("inspect", str(path)), ("convert", str(path), "-o", str(tmp_path / "out.keras"))):
        stderr = one_line(run_cli(*command))
        assert "data.pkl refers to posix.system, which rnncalc does not load" in stderr
    assert not marker.exists() and not (tmp_path / "out.keras").exists()
    assert path.read_bytes() == before


def test_source_code_is_read_as_text_never_run(tmp_path: Path, run_json: Callable[..., Any]) -> None:
    path, model = build("rnn_relu", "script", tmp_path)
    marker = tmp_path / "marker"
    code = member(path, "/code/__torch__/torch/nn/modules/rnn.py")
    with zipfile.ZipFile(path) as archive:
        source = archive.read(code).decode()
    payload = f"__import__('os').system('touch {marker}')"
    hostile = source.replace('mode : Final[str] = "RNN_RELU"', f"mode : Final[str] = {payload}")
    hostile = hostile.replace("hidden_size : Final[int] = 3", f"hidden_size : Final[int] = {payload}")
    assert hostile.count(payload) == 2
    rewrite(path, {code: hostile.encode()})
    (layer,) = run_json("inspect", str(path))["recurrent"]
    assert not marker.exists()
    # The constant that was a literal is gone; the pickled nonlinearity still says relu.
    assert layer["spec"]["hidden_size"] == model.encoder.hidden_size
    assert layer["spec"]["nonlinearity"] == "relu"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("offset", "reach past its"),
        ("missing", "no such record in the archive"),
        ("global", "eval, which rnncalc does not load"),
        ("plain", "data.pkl holds a dict, not a TorchScript module"),
        ("truncated", "data.pkl is not a readable TorchScript pickle"),
    ],
)
def test_a_tensor_outside_its_record_or_a_foreign_global_is_one_line(
    change: str, message: str, tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    path, _ = build("gru", "script", tmp_path)
    name = member(path, "/data.pkl")
    with zipfile.ZipFile(path) as archive:
        data = archive.read(name)
        records = sorted(n for n in archive.namelist() if "/data/" in n)
    if change == "offset":  # the first tensor's storage offset: the BININT1 after its BINPERSID
        ops = list(pickletools.genops(data))
        persistent = next(i for i, (op, _, _) in enumerate(ops) if op.name == "BINPERSID")
        op, _, at = ops[persistent + 2]  # BINPERSID, BINPUT, then the offset
        assert op.name == "BININT1" and at is not None
        rewrite(path, {name: data[: at + 1] + b"\x7f" + data[at + 2 :]})
    elif change == "missing":
        with zipfile.ZipFile(path) as archive:
            kept = [(info, archive.read(info)) for info in archive.infolist() if info.filename != records[0]]
        with zipfile.ZipFile(path, "w") as archive:
            for info, member_data in kept:
                archive.writestr(info, member_data)
    elif change == "global":
        rewrite(path, {name: pickle.dumps(eval, protocol=2)})
    elif change == "plain":
        rewrite(path, {name: pickle.dumps({"weight": 1}, protocol=2)})
    else:
        rewrite(path, {name: data[: len(data) // 2]})
    assert message in one_line(run_cli("inspect", str(path)))


@pytest.mark.parametrize("how", ["script", "export"])
def test_half_precision_and_strided_tensors_are_read_as_the_module_holds_them(
    how: str, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    torch.manual_seed(0)
    model = Wrapped("lstm").eval()
    with torch.no_grad():  # weight_ih_l0 a transposed view: strides (1, 16), not (3, 1)
        model.encoder.weight_ih_l0 = torch.nn.Parameter(torch.randn(3, 16).t())
    assert not model.encoder.weight_ih_l0.is_contiguous()
    model = model.half()
    path = tmp_path / f"half{'.pt2' if how == 'export' else '.pt'}"
    save(model, how, path, _input("lstm").astype(np.float16))
    convert(str(path), str(tmp_path / "out.safetensors"))
    written = load_file(str(tmp_path / "out.safetensors"))
    expected = {name: tensor.float() for name, tensor in model.encoder.state_dict().items()}
    assert written.keys() == expected.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(written[name], tensor, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"use_pickle": True}, "a pickled tensor, which rnncalc does not unpickle"),
        ({"path_name": "../weight_0"}, "path_name '../weight_0' is not a record name"),
        ({"path_name": "weight_99"}, "no such record in the archive"),
        ({"tensor_meta": {"storage_offset": {"as_int": 10**6}}}, "reach past its"),
        ({"tensor_meta": {"sizes": [{"as_int": 10**9}, {"as_int": 10**9}]}}, "hold more than its"),
        ({"tensor_meta": {"dtype": 99}}, "not a tensor entry this reader knows"),
    ],
    ids=["pickled", "outside", "missing", "offset", "sizes", "dtype"],
)
def test_a_hostile_export_weights_config_is_one_line(
    change: dict[str, Any], message: str, tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    path, _ = build("gru", "export", tmp_path)
    config = member(path, "/data/weights/model_weights_config.json")
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read(config))
    entry = document["config"]["encoder.weight_ih_l0"]
    for key, value in change.items():
        if isinstance(value, dict):
            entry[key].update(value)
        else:
            entry[key] = value
    rewrite(path, {config: json.dumps(document).encode()})
    stderr = one_line(run_cli("inspect", str(path)))
    assert message in stderr and str(path) in stderr


def _replace_somewhere(document: Any, rng: Any) -> Any:
    """``document`` with one value, somewhere in it, swapped for a value of another type."""
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            paths.append((node, key))
            walk(value)

    walk(document)
    node, key = paths[rng.integers(len(paths))]
    node[key] = [None, -1, 2**70, "x/../y", [], {}, True, 1e300][rng.integers(8)]
    return document


@pytest.mark.parametrize("how", ["script", "export"])
def test_mutated_archives_are_read_or_refused_never_crash(how: str, tmp_path: Path) -> None:
    from rnncalc.inspect.formats import read_file
    from rnncalc.inspect.infer import inspect_contents
    from rnncalc.io.tensors import WeightFileError

    original, _ = build("rnn_relu", how, tmp_path)
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(original) as archive:
        names = [n for n in archive.namelist() if n.endswith(("/data.pkl", ".json"))]
        originals = {name: archive.read(name) for name in names}
    outcomes = set()
    for attempt in range(40):
        path = tmp_path / f"mutated{attempt}{original.suffix}"
        shutil.copy(original, path)
        name = names[attempt % len(names)]
        data = originals[name]
        if name.endswith(".json"):
            data = json.dumps(_replace_somewhere(json.loads(data), rng)).encode()
        else:
            at = int(rng.integers(2, len(data)))
            data = data[:at] + bytes([int(rng.integers(256))]) + data[at + 1 :]
        rewrite(path, {name: data})
        try:
            inspect_contents(str(path), read_file(str(path)))
            outcomes.add("read")
        except WeightFileError as error:
            assert str(error).startswith(f"{path}: ") and "\n" not in str(error)
            outcomes.add("refused")
    assert outcomes == {"read", "refused"}


def test_a_recorded_size_that_contradicts_the_shapes_is_said_and_the_shapes_kept(
    tmp_path: Path, run_json: Callable[..., Any]
) -> None:
    path, model = build("gru", "script", tmp_path)
    code = member(path, "/code/__torch__/torch/nn/modules/rnn.py")
    with zipfile.ZipFile(path) as archive:
        source = archive.read(code).decode()
    assert "hidden_size : Final[int] = 5" in source
    rewrite(
        path, {code: source.replace("hidden_size : Final[int] = 5", "hidden_size : Final[int] = 7").encode()}
    )
    (layer,) = run_json("inspect", str(path))["recurrent"]
    assert layer["spec"]["hidden_size"] == model.encoder.hidden_size == 5
    assert "the archive records hidden_size=7, the tensors 5" in layer["notes"]


@pytest.mark.parametrize("how", ["trace", "export"])
def test_an_archive_zipped_again_with_compression_converts_the_same(how: str, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    path, model = build("lstm", how, tmp_path)
    with zipfile.ZipFile(path) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    convert(str(path), str(tmp_path / "out.safetensors"))
    written = load_file(str(tmp_path / "out.safetensors"))
    for name, tensor in model.encoder.state_dict().items():
        torch.testing.assert_close(written[name], tensor, rtol=0, atol=0)
