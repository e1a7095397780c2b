"""``rnncalc convert`` on the command line: refusals before writing, ``--force``, atomic writes,
``--verify`` and ``--to``."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rnncalc.cli import cli

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["convert", *args])


def one_line_error(result: Any) -> str:
    """The single stderr line of a refusal (exit 2, no traceback, nothing on stdout)."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnncalc: error: "), result.stderr
    return str(lines[0])


@pytest.fixture
def lstm_pt(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "lstm.pt"
    torch.save(torch.nn.LSTM(3, 4, num_layers=2).state_dict(), path)
    return path


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_converting_prints_what_was_written_and_the_verified_difference(lstm_pt: Path) -> None:
    result = run(str(lstm_pt), "-o", str(lstm_pt.with_suffix(".onnx")))
    assert result.exit_code == 0, result.output
    first, second = result.stdout.splitlines()
    assert first.startswith(f"{lstm_pt.with_suffix('.onnx')}: ONNX model, lstm, input 3, hidden 4, 2 layers")
    assert "from PyTorch" in first
    found = re.fullmatch(
        r"verify: source rebuilt in PyTorch \(read as weights only\), target file run by onnxruntime: "
        r"largest \|difference\| (\S+) \(atol 1e-05\): ok",
        second,
    )
    assert found and float(found[1]) <= 1e-5


def test_a_difference_above_atol_exits_1(lstm_pt: Path) -> None:
    result = run(str(lstm_pt), "-o", str(lstm_pt.with_suffix(".keras")), "--atol", "0")
    difference = float(re.search(r"\|difference\| (\S+)", result.stdout)[1])  # type: ignore[index]
    # Keras sums PyTorch's two biases and multiplies in another order: float32 rounding differs.
    assert difference > 0
    assert result.exit_code == 1
    assert "FAILED" in result.stdout


def test_no_verify_writes_without_running_either_framework(lstm_pt: Path) -> None:
    result = run(str(lstm_pt), "-o", str(lstm_pt.with_suffix(".safetensors")), "--no-verify")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1


def test_an_existing_destination_is_kept_without_force(lstm_pt: Path) -> None:
    destination = lstm_pt.with_suffix(".onnx")
    destination.write_bytes(b"keep me")
    message = one_line_error(run(str(lstm_pt), "-o", str(destination)))
    assert "exists; pass --force" in message
    assert destination.read_bytes() == b"keep me"


def test_force_replaces_an_existing_destination(lstm_pt: Path) -> None:
    destination = lstm_pt.with_suffix(".onnx")
    destination.write_bytes(b"old")
    assert run(str(lstm_pt), "-o", str(destination), "--force", "--no-verify").exit_code == 0
    assert destination.read_bytes() != b"old"
    assert files(lstm_pt.parent) == ["lstm.onnx", "lstm.pt"]


def test_to_overrides_the_extension(lstm_pt: Path) -> None:
    destination = lstm_pt.parent / "weights.bin"
    result = run(str(lstm_pt), "-o", str(destination), "--to", "safetensors", "--no-verify")
    assert result.exit_code == 0, result.output
    from safetensors.torch import load_file

    assert set(load_file(str(destination))) == set(torch.load(lstm_pt, weights_only=True))


def test_an_unknown_extension_without_to_is_refused(lstm_pt: Path) -> None:
    assert "--to" in one_line_error(run(str(lstm_pt), "-o", str(lstm_pt.with_suffix(".txt"))))


def test_a_missing_source_is_one_line(tmp_path: Path) -> None:
    assert "no such file" in one_line_error(run(str(tmp_path / "nope.pt"), "-o", str(tmp_path / "x.keras")))


def test_a_projected_lstm_is_refused_for_keras_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "proj.pt"
    torch.save(torch.nn.LSTM(3, 6, proj_size=2).state_dict(), path)
    message = one_line_error(run(str(path), "-o", str(tmp_path / "proj.keras")))
    assert "Keras 3 cannot hold" in message and "projection" in message
    assert files(tmp_path) == ["proj.pt"]


def test_a_keras_gru_without_reset_after_is_refused_for_pytorch(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    inputs = keras.Input((None, 3))
    keras.Model(inputs, keras.layers.GRU(4, reset_after=False)(inputs)).save(tmp_path / "gru.keras")
    message = one_line_error(run(str(tmp_path / "gru.keras"), "-o", str(tmp_path / "gru.pt")))
    assert "PyTorch cannot hold" in message and "reset_after=False" in message
    assert files(tmp_path) == ["gru.keras"]


@pytest.mark.parametrize(
    ("option", "words"),
    [({"go_backwards": True}, "go_backwards"), ({"activation": "relu"}, "activation relu")],
)
def test_what_a_keras_lstm_computes_is_kept_or_refused_never_dropped(
    tmp_path: Path, option: dict[str, Any], words: str
) -> None:
    """A Keras option that changes the outputs but not the weights: PyTorch cannot hold it, so
    it is refused; into Keras it is kept, and the written model computes what the source does."""
    keras = pytest.importorskip("keras")
    source = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4, return_sequences=True, **option)])
    source.save(tmp_path / "lstm.keras")
    message = one_line_error(run(str(tmp_path / "lstm.keras"), "-o", str(tmp_path / "lstm.pt")))
    assert "PyTorch cannot hold" in message and words in message
    assert files(tmp_path) == ["lstm.keras"]

    result = run(str(tmp_path / "lstm.keras"), "-o", str(tmp_path / "copy.keras"), "--no-verify")
    assert result.exit_code == 0, result.output
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    written = keras.models.load_model(tmp_path / "copy.keras")
    np.testing.assert_allclose(np.asarray(written(x)), np.asarray(source(x)), atol=1e-6)


def test_nonlinearity_applies_to_rnn_only(lstm_pt: Path) -> None:
    message = one_line_error(
        run(str(lstm_pt), "-o", str(lstm_pt.with_suffix(".onnx")), "--nonlinearity", "relu")
    )
    assert "--nonlinearity" in message


def test_an_interrupted_write_leaves_no_file_and_keeps_the_old_one(
    lstm_pt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rnncalc.convert import make_plan, stream, write_plan

    real = stream.converted

    def interrupted(*args: Any) -> Iterator[Any]:
        pairs = real(*args)
        yield next(pairs)  # the header and the first tensor reach the disk, then the run stops
        raise KeyboardInterrupt

    monkeypatch.setattr(stream, "converted", interrupted)
    fresh = lstm_pt.parent / "fresh.safetensors"
    with pytest.raises(KeyboardInterrupt):
        write_plan(make_plan(str(lstm_pt), str(fresh)))
    assert files(lstm_pt.parent) == ["lstm.pt"]

    existing = lstm_pt.parent / "existing.safetensors"
    existing.write_bytes(b"previous")
    with pytest.raises(KeyboardInterrupt):
        write_plan(make_plan(str(lstm_pt), str(existing), force=True), force=True)
    assert existing.read_bytes() == b"previous"
    assert files(lstm_pt.parent) == ["existing.safetensors", "lstm.pt"]


def test_two_recurrent_modules_that_do_not_chain_are_refused_listing_the_chains(tmp_path: Path) -> None:
    class TwoStacks(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.encoder = torch.nn.GRU(3, 4)
            self.decoder = torch.nn.GRU(5, 4)  # reads 5 features, the encoder hands on 4

    path = tmp_path / "two.pt"
    torch.save(TwoStacks().state_dict(), path)
    message = one_line_error(run(str(path), "-o", str(tmp_path / "two.onnx")))
    assert "holds 2 chains" in message and "--part" in message
    assert "encoder" in message and "decoder" in message
    assert files(tmp_path) == ["two.pt"]


def test_a_half_precision_safetensors_checkpoint_under_state_dict_keys_converts(tmp_path: Path) -> None:
    """float16 values are widened to float32: the converted module matches the float16 one."""
    from safetensors.torch import save_file

    torch.manual_seed(3)
    module = torch.nn.LSTM(3, 4, batch_first=True).half()
    path = tmp_path / "half.safetensors"
    save_file(module.state_dict(), str(path))
    result = run(str(path), "-o", str(tmp_path / "half.pt"))
    assert result.exit_code == 0, result.output
    loaded = torch.nn.LSTM(3, 4, batch_first=True)
    loaded.load_state_dict(torch.load(tmp_path / "half.pt", weights_only=True), strict=True)
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        expected = module.float()(x)[0]
        np.testing.assert_allclose(loaded(x)[0].numpy(), expected.numpy(), atol=1e-6)


def test_a_training_checkpoint_with_the_state_dict_nested_converts(tmp_path: Path) -> None:
    torch.manual_seed(4)
    module = torch.nn.GRU(3, 4)
    path = tmp_path / "checkpoint.pt"
    torch.save({"epoch": 7, "state_dict": module.state_dict()}, path)
    result = run(str(path), "-o", str(tmp_path / "gru.onnx"))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].endswith(": ok")


def test_a_flax_state_that_is_not_a_recurrent_stack_is_refused(tmp_path: Path) -> None:
    serialization = pytest.importorskip("flax.serialization")
    path = tmp_path / "dense.msgpack"
    path.write_bytes(serialization.msgpack_serialize({"kernel": np.zeros((3, 4), np.float32)}))
    message = one_line_error(run(str(path), "-o", str(tmp_path / "dense.pt")))
    assert message.endswith("dense.msgpack: no recurrent layer found")


def _onnx_lstm(path: Path, inputs: list[str], **attributes: Any) -> None:
    """An ONNX graph of one LSTM operator (hidden 2, input 3) with every weight an initializer."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    shapes = {"W": (1, 8, 3), "R": (1, 8, 2), "B": (1, 16), "P": (1, 6)}
    initializers = [numpy_helper.from_array(np.ones(shapes[n], np.float32), n) for n in inputs if n in shapes]
    node = helper.make_node("LSTM", ["X", *inputs], ["Y"], hidden_size=2, **attributes)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 1, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        initializers,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_onnx_peepholes_are_refused_since_no_other_framework_holds_them(tmp_path: Path) -> None:
    _onnx_lstm(tmp_path / "peep.onnx", ["W", "R", "B", "", "", "", "P"])
    assert "peephole" in one_line_error(run(str(tmp_path / "peep.onnx"), "-o", str(tmp_path / "peep.pt")))
    assert files(tmp_path) == ["peep.onnx"]


def test_an_onnx_operator_running_backwards_only_is_refused(tmp_path: Path) -> None:
    _onnx_lstm(tmp_path / "reverse.onnx", ["W", "R", "B"], direction="reverse")
    message = one_line_error(run(str(tmp_path / "reverse.onnx"), "-o", str(tmp_path / "reverse.keras")))
    assert "direction=reverse" in message


def test_a_failing_write_is_one_line_and_leaves_nothing_behind(lstm_pt: Path, tmp_path: Path) -> None:
    """Replacing a directory with --force fails in os.replace: an OSError, reported on one line."""
    (tmp_path / "taken.onnx").mkdir()
    message = one_line_error(run(str(lstm_pt), "-o", str(tmp_path / "taken.onnx"), "--force"))
    assert message.startswith(f"rnncalc: error: -o: {tmp_path / 'taken.onnx'}: ")
    assert files(tmp_path) == ["lstm.pt", "taken.onnx"]
    assert (tmp_path / "taken.onnx").is_dir()


def _case_folds(directory: Path) -> bool:
    """True when ``directory``'s filesystem finds a file under another case of its name."""
    probe = directory / "case-probe"
    probe.write_bytes(b"")
    try:
        return (directory / "CASE-PROBE").exists()
    finally:
        probe.unlink()


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("way", ["same", "dot", "dotdot", "symlink", "hardlink", "proc-fd", "case"])
def test_a_destination_that_reaches_the_source_is_refused_however_the_path_gets_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, way: str, force: bool
) -> None:
    # A file whose extension is the target's, so that only sameness can refuse it.
    source = tmp_path / "lstm.pt"
    torch.save(torch.nn.LSTM(3, 4).state_dict(), source)
    before = source.read_bytes()
    monkeypatch.chdir(tmp_path)
    if way == "case" and not _case_folds(tmp_path):
        pytest.skip("this filesystem keeps names of different case apart")
    with open(source, "rb") as opened:
        destination = {
            "same": str(source),
            "dot": "./lstm.pt",
            "dotdot": f"../{tmp_path.name}/lstm.pt",
            "symlink": "link.pt",
            "hardlink": "hard.pt",
            "proc-fd": f"/proc/self/fd/{opened.fileno()}",
            "case": "LSTM.pt",
        }[way]
        if way == "symlink":
            os.symlink(source, destination)
        if way == "hardlink":
            os.link(source, destination)
        if way == "proc-fd" and not os.path.exists(destination):
            pytest.skip("no /proc/self/fd here")
        listed = files(tmp_path)
        message = one_line_error(
            run("lstm.pt", "-o", destination, "--to", "torch", *(["--force"] if force else []))
        )
    assert message == f"rnncalc: error: -o: {destination} is the source file; write elsewhere"
    assert source.read_bytes() == before
    assert files(tmp_path) == listed  # nothing written, no temporary file left


def test_a_hard_link_elsewhere_that_is_not_the_source_is_written(lstm_pt: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pt"
    other.write_bytes(b"old")
    os.link(other, tmp_path / "other-link.pt")
    result = run(str(lstm_pt), "-o", str(other), "--force", "--no-verify")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "other-link.pt").read_bytes() == b"old"  # replaced, not written through


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
@pytest.mark.parametrize("target", ["onnx", "safetensors"])
def test_a_weight_that_is_not_finite_fails_the_verify_step_with_exit_1(
    tmp_path: Path, value: float, target: str
) -> None:
    state = torch.nn.GRU(3, 4).state_dict()
    state["weight_hh_l0"][1, 2] = value
    source = tmp_path / "gru.pt"
    torch.save(state, source)
    result = run(str(source), "-o", str(tmp_path / f"gru.{target}"), "--atol", "1e30")
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[-1].endswith(
        ": largest |difference| not finite (a NaN or infinity in an output) (atol 1e+30): FAILED"
    )


def test_the_written_file_gets_the_mode_a_new_file_gets(lstm_pt: Path) -> None:
    """``0o666`` less the umask, as ``open`` would make it, not the temporary file's ``0o600``."""
    previous = os.umask(0o022)
    try:
        result = run(str(lstm_pt), "-o", str(lstm_pt.with_suffix(".safetensors")), "--no-verify")
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert lstm_pt.with_suffix(".safetensors").stat().st_mode & 0o777 == 0o644
