"""``rnncalc convert`` of a whole model (embedding, recurrent blocks that differ, a layer norm, a
dense head) holds one tensor at a time: every writer frees each target tensor before it asks for
the next (:func:`streaming.one_at_a_time`), and what it wrote is still the source's values, read
back with each format's own library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streaming import HeldTooLong, converted_pairs, one_at_a_time

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")

from rnncalc.convert import make_plan  # noqa: E402


class Model(torch.nn.Module):  # type: ignore[misc,name-defined]
    """Token ids → embedding → 2-layer LSTM → layer norm → LSTM of another size → dense head
    (an LSTM, not a GRU: Flax's GRU cell cannot hold PyTorch's recurrent bias)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(40, 6)
        self.lstm = torch.nn.LSTM(6, 5, num_layers=2, batch_first=True)
        self.norm = torch.nn.LayerNorm(5)
        self.lstm2 = torch.nn.LSTM(5, 4, batch_first=True)
        self.head = torch.nn.Linear(4, 3)


@pytest.fixture(scope="module")
def model_pt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("whole") / "model.pt"
    torch.save(Model().state_dict(), path)
    return path


def read_back(path: Path) -> dict[str, Any]:
    """The written file's arrays by name, read with its format's own library."""
    suffix = path.suffix
    if suffix == ".pt":
        return {name: tensor.numpy() for name, tensor in torch.load(path, weights_only=True).items()}
    if suffix == ".safetensors":
        return dict(pytest.importorskip("safetensors.numpy").load_file(str(path)))
    if suffix == ".keras":  # Keras's weights file in the archive, by its HDF5 paths
        h5py = pytest.importorskip("h5py")
        import zipfile

        found: dict[str, Any] = {}
        with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as member:
            h5py.File(member, "r").visititems(
                lambda name, node: found.update({name: node[()]} if isinstance(node, h5py.Dataset) else {})
            )
        return found
    if suffix == ".onnx":
        onnx = pytest.importorskip("onnx")
        from onnx import numpy_helper

        return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    serialization = pytest.importorskip("flax.serialization")
    found = {}

    def walk(tree: dict[Any, Any], prefix: str) -> None:
        for key, value in tree.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                found[f"{prefix}{key}"] = value

    walk(serialization.msgpack_restore(path.read_bytes()), "")
    return found


@pytest.mark.parametrize("suffix", [".pt", ".safetensors", ".keras", ".onnx", ".msgpack"])
def test_every_writer_frees_each_tensor_of_a_whole_model_before_the_next_is_made(
    model_pt: Path, tmp_path: Path, suffix: str
) -> None:
    destination = tmp_path / f"converted{suffix}"
    plan = make_plan(str(model_pt), str(destination))
    assert plan.source.model is not None  # a whole model, not a bare stack
    names = []

    def pairs() -> Any:
        for name, array in one_at_a_time(converted_pairs(plan)):
            names.append(name)
            yield name, array
            del array  # this wrapper must not hold it either

    assert plan.target.write is not None
    plan.target.write(plan, pairs(), str(destination))
    written = read_back(destination)
    assert len(written) == len(names)  # every tensor the writer took is in the file, once
    source = {name: tensor.numpy() for name, tensor in torch.load(model_pt, weights_only=True).items()}
    # Every framework keeps the embedding table as nn.Embedding does; the head's kernel is
    # nn.Linear's weight, or its transpose (Keras, Flax, ONNX's MatMul).
    embedding = [array for array in written.values() if np.array_equal(array, source["embed.weight"])]
    head = source["head.weight"]
    heads = [
        array for array in written.values() if np.array_equal(array, head) or np.array_equal(array, head.T)
    ]
    assert len(embedding) == 1 and len(heads) == 1


def test_a_writer_keeping_the_whole_models_tensors_is_caught(model_pt: Path, tmp_path: Path) -> None:
    """The check can fail on a whole model too: a writer that collects the state first."""
    plan = make_plan(str(model_pt), str(tmp_path / "converted.pt"))
    with pytest.raises(HeldTooLong, match="is still held when"):
        dict(one_at_a_time(converted_pairs(plan)))


def resident_kib(address: int) -> int:
    """The resident KiB of the mapping holding ``address`` (proc(5): /proc/self/smaps)."""
    inside = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                start, end = (int(bound, 16) for bound in head.split("-"))
                inside = start <= address < end
            elif inside and head == "Rss:":
                return int(line.split()[1])
    raise AssertionError(f"no mapping holds {address:#x}")


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="Linux: pages let go with madvise")
@pytest.mark.parametrize(
    ("kind", "source_name", "target_name", "orient"),
    [
        ("embedding", "weight", "embeddings", lambda values: values),  # PyTorch → Keras, as stored
        ("dense", "weight", "kernel", lambda values: values.T),  # nn.Linear's weight → a Keras kernel
        ("dense", "kernel", "weight", lambda values: values.T),  # a Keras kernel → nn.Linear's weight
    ],
)
def test_a_part_copied_from_a_mapped_file_lets_its_pages_go_as_it_copies(
    tmp_path: Path, kind: str, source_name: str, target_name: str, orient: Any
) -> None:
    """The embedding and the head are a model's largest tensors: assembled from a mapped
    source, none of the source's pages stays resident beside the copy, whichever way the
    target holds it (a transposed view is copied in the file's order)."""
    import mmap

    from rnncalc import frameworks
    from rnncalc.core.model import Dense, Embedding
    from rnncalc.io.mapped import mapped

    source, target = (frameworks.get("torch"), frameworks.get("keras"))
    if source_name == "kernel":
        source, target = target, source
    part = Embedding(1024, 1024) if kind == "embedding" else Dense(1024)
    rows, columns = 1024, 1024
    values = np.random.default_rng(0).random((rows, columns), dtype=np.float32)  # 4 MiB
    path = tmp_path / "tensor.bin"
    values.tofile(path)
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapping:
        tensor = mapped(np.frombuffer(mapping, dtype=np.float32).reshape(rows, columns))
        address = tensor.ctypes.data
        canonical = dict([source.part_canonical(part, source_name, tensor)])
        copy = target.part_tensor_from_canonical(part, 1024, target_name, canonical)
        left = resident_kib(address)
        del tensor, canonical
    np.testing.assert_array_equal(copy, orient(values))
    # Linux maps up to 64 KiB of cached pages around a faulting one (fault-around): what the
    # last chunks' reads mapped may stay; the whole 4,096 KiB did before.
    assert left <= 128, f"{left} KiB of the 4 MiB source still resident"


def test_a_recurrent_block_lets_each_layers_source_go_before_the_next_layer(model_pt: Path) -> None:
    """A 2-layer LSTM block is released layer by layer, as a bare stack is, not at its end."""
    from rnncalc.convert.plan import source_weights
    from rnncalc.convert.stream import converted

    plan = make_plan(str(model_pt), str(model_pt.with_suffix(".safetensors")))
    events: list[str] = []

    class Recording(dict):  # type: ignore[type-arg]
        def release(self, name: str) -> None:
            events.append(f"release {name}")

    data = plan.source.format.open(plan.source.path)
    try:
        weights = Recording((name, data[name]) for name in data)
        for name, _ in converted(plan, source_weights(plan.source, weights)):
            events.append(name)
    finally:
        data.close()
    layer_1 = next(i for i, event in enumerate(events) if event.endswith("weight_ih_l1"))
    assert "release lstm.weight_hh_l0" in events[:layer_1]
    assert "release lstm.weight_hh_l1" in events[layer_1:]
