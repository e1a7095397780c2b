"""``rnncalc convert`` holds one tensor at a time: the stream makes each target tensor after
the previous one is freed, and the safetensors writer frees each one before asking for the next
(:func:`streaming.one_at_a_time`); what is written is still the source's values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streaming import HeldTooLong, converted_pairs, one_at_a_time

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

from rnncalc.convert import make_plan  # noqa: E402
from rnncalc.frameworks.writing import target_rows, write_safetensors  # noqa: E402


@pytest.fixture
def lstm_pt(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "lstm.pt"
    torch.save(torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True).state_dict(), path)
    return path


def test_the_safetensors_writer_frees_each_tensor_before_the_next_is_made(lstm_pt: Path) -> None:
    destination = lstm_pt.with_suffix(".safetensors")
    plan = make_plan(str(lstm_pt), str(destination))
    write_safetensors(plan, one_at_a_time(converted_pairs(plan)), str(destination))
    written = safetensors_numpy.load_file(str(destination))
    source = torch.load(lstm_pt, weights_only=True)
    assert written.keys() == source.keys()
    for name, tensor in source.items():
        np.testing.assert_array_equal(written[name], tensor.numpy())


def test_a_consumer_keeping_every_tensor_is_caught(lstm_pt: Path) -> None:
    """The check itself can fail: a writer that collects the state, as ``torch.save`` needs."""
    plan = make_plan(str(lstm_pt), str(lstm_pt.with_suffix(".keras")))
    with pytest.raises(HeldTooLong, match="is still held when"):
        dict(one_at_a_time(converted_pairs(plan)))


def test_the_stream_into_every_target_holds_one_tensor_at_a_time(lstm_pt: Path) -> None:
    for suffix in (".safetensors", ".keras", ".onnx", ".msgpack"):
        plan = make_plan(str(lstm_pt), str(lstm_pt.with_suffix(suffix)))
        names = []
        for name, array in one_at_a_time(converted_pairs(plan)):
            names.append(name)
            del array
        assert names == [name for name, _ in target_rows(plan)]


def test_tensors_copied_a_few_rows_at_a_time_hold_the_gate_blocks_where_each_framework_keeps_them(
    lstm_pt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of one row (``CHUNK_BYTES`` at 8, ``TRANSPOSED_ROWS`` at 1), against the layouts
    written out by hand:
    Keras's kernel is PyTorch's ``weight_ih`` transposed (gates i, f, g, o in both); ONNX's
    ``W[d]`` holds the blocks as i, o, f, c; Flax's ``if_`` kernel is the f block transposed."""
    from rnncalc import reference

    monkeypatch.setattr(reference, "CHUNK_BYTES", 8)
    monkeypatch.setattr(reference, "TRANSPOSED_ROWS", 1)
    state = {name: tensor.numpy() for name, tensor in torch.load(lstm_pt, weights_only=True).items()}
    hidden = 4
    i, f, g, o = (state["weight_ih_l1_reverse"][k * hidden : (k + 1) * hidden] for k in range(4))

    def target(suffix: str) -> dict[str, Any]:
        found = {}
        for name, array in converted_pairs(make_plan(str(lstm_pt), str(lstm_pt.with_suffix(suffix)))):
            found[name] = array.copy()
        return found

    keras_kernel = target(".keras")["bidirectional_1/backward_lstm_1/lstm_cell/kernel"]
    np.testing.assert_array_equal(keras_kernel, state["weight_ih_l1_reverse"].T)
    np.testing.assert_array_equal(target(".onnx")["lstm_1.W"][1], np.concatenate([i, o, f, g]))
    np.testing.assert_array_equal(target(".msgpack")["layers.1.backward_rnn.cell.if_.kernel"], f.T)


def test_a_keras_archives_weights_are_mapped_from_the_file_with_the_values_h5py_reads(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    h5py = pytest.importorskip("h5py")
    import zipfile

    from rnncalc.frameworks.keras_files import open_keras_archive
    from rnncalc.io.mapped import MappedArray

    model = keras.Sequential([keras.Input((5, 3)), keras.layers.Bidirectional(keras.layers.GRU(4))])
    path = tmp_path / "gru.keras"
    model.save(path)
    data = open_keras_archive(str(path))
    with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as member:
        expected = h5py.File(member, "r")
        assert len(data) == 6
        for name in data:
            value = data[name]
            assert isinstance(value, MappedArray)
            np.testing.assert_array_equal(value, expected[name][()])
    data.close()
