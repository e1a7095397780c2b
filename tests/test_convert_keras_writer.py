"""The ``.keras`` writer holds one tensor at a time and writes what ``model.save`` writes: Keras
loads the file, runs it as the PyTorch source runs, and saves it back with the same config and
the same weight file layout."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from streaming import HeldTooLong, converted_pairs, one_at_a_time

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
h5py = pytest.importorskip("h5py")

from rnncalc.convert import make_plan  # noqa: E402
from rnncalc.frameworks.keras_files import write_keras_archive  # noqa: E402

#: float32 rounding over a few steps of a small stack.
ATOL = 1e-5


@pytest.fixture(scope="module")
def gru_pt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A bidirectional two-layer ``nn.GRU`` state dict (batch first) and the module."""
    torch.manual_seed(0)
    module = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    path = tmp_path_factory.mktemp("source") / "gru.pt"
    torch.save(module.state_dict(), path)
    return path, module


@pytest.fixture(scope="module")
def written(gru_pt: tuple[Path, Any]) -> tuple[Path, dict[str, Any]]:
    """The source written by the real writer, fed one tensor at a time; and what it was fed."""
    source, _ = gru_pt
    destination = source.with_name("gru.keras")
    plan = make_plan(str(source), str(destination))
    fed = {name: np.array(array) for name, array in converted_pairs(plan)}
    write_keras_archive(plan, one_at_a_time(converted_pairs(plan)), str(destination))
    return destination, fed


def test_the_keras_writer_frees_each_tensor_and_keras_runs_the_file_as_torch_runs_the_source(
    gru_pt: tuple[Path, Any], written: tuple[Path, dict[str, Any]]
) -> None:
    _, module = gru_pt
    path, fed = written
    model = keras.models.load_model(path)
    # A loaded model's variable paths are not the built one's (no "bidirectional/" scope), but
    # model.weights keeps the report's order.
    assert len(model.weights) == len(fed)
    for variable, array in zip(model.weights, fed.values(), strict=True):
        np.testing.assert_array_equal(np.asarray(variable), array)
    x = np.random.default_rng(3).standard_normal((2, 5, 3)).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(np.asarray(model(x)), expected, atol=ATOL)


def _layout(archive: zipfile.ZipFile) -> list[tuple[str, dict[str, Any], Any]]:
    """Every group and dataset of the archive's weight file: name, attributes, shape and dtype."""
    found: list[tuple[str, dict[str, Any], Any]] = []
    with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as weights:
        weights.visititems(
            lambda name, item: found.append(
                (name, dict(item.attrs), (item.shape, item.dtype) if hasattr(item, "dtype") else None)
            )
        )
    return found


def _config(archive: zipfile.ZipFile) -> Any:
    """config.json without ``shared_object_id`` (``id()`` of Python objects, new in each save)."""
    return json.loads(re.sub(r', "shared_object_id": \d+', "", archive.read("config.json").decode()))


def test_keras_saves_the_written_file_back_with_the_same_members_config_and_layout(
    written: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, _ = written
    saved_again = tmp_path / "again.keras"
    keras.models.load_model(path).save(saved_again)
    with zipfile.ZipFile(path) as ours, zipfile.ZipFile(saved_again) as keras_own:
        assert ours.testzip() is None  # every member's CRC-32 matches
        assert [(i.filename, i.compress_type) for i in ours.infolist()] == [
            (i.filename, i.compress_type) for i in keras_own.infolist()
        ]
        metadata = (json.loads(archive.read("metadata.json")) for archive in (ours, keras_own))
        assert next(metadata).keys() == next(metadata).keys()
        assert _config(ours) == _config(keras_own)
        assert _layout(ours) == _layout(keras_own)


def test_the_writer_leaves_no_deferred_variable_for_a_later_keras_scope_to_allocate(
    gru_pt: tuple[Path, Any], tmp_path: Path
) -> None:
    """Keras keeps variables made in a StatelessScope in a global list and gives them values
    when the next outermost scope closes (keras/src/backend/common/stateless_scope.py)."""
    from keras.src.backend.common import global_state

    source, _ = gru_pt
    destination = tmp_path / "gru.keras"
    plan = make_plan(str(source), str(destination))

    def pending() -> list[int]:
        variables = global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True)
        return [id(variable) for variable in variables]

    before = pending()
    write_keras_archive(plan, converted_pairs(plan), str(destination))
    assert pending() == before


class _MovedSavingLibrary:
    """Keras's saving module as a Keras that moved or changed ``name`` shows it to rnncalc:
    ``name`` absent (``error`` None) or raising ``error``; Keras's own ``model.save`` keeps the
    real module."""

    def __init__(self, name: str, error: type[Exception] | None) -> None:
        from keras.src.saving import saving_lib

        self._library, self._name, self._error = saving_lib, name, error

    def __getattr__(self, attribute: str) -> Any:
        if attribute != self._name:
            return getattr(self._library, attribute)
        if self._error is None:
            raise AttributeError(attribute)
        error = self._error

        def fail(*args: Any, **kwargs: Any) -> Any:
            raise error("moved in this Keras")

        return fail


def _no_saving_library() -> Any:
    raise ImportError("No module named 'keras.src.saving.saving_lib'")


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("_serialize_model_as_json", AttributeError),
        ("_save_state", TypeError),
        ("_serialize_model_as_json", ImportError),
        ("H5IOStore", None),  # the name is gone
        ("the module", ImportError),
    ],
)
def test_any_failure_of_keras_s_private_saving_functions_falls_back_to_model_save(
    gru_pt: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, error: Any
) -> None:
    """The whole-state fallback writes a model that loads and computes what the source does."""
    from rnncalc.frameworks import keras_files

    if name == "the module":
        monkeypatch.setattr(keras_files, "_saving_library", _no_saving_library)
    else:
        monkeypatch.setattr(keras_files, "_saving_library", lambda: _MovedSavingLibrary(name, error))
    source, module = gru_pt
    destination = tmp_path / "gru.keras"
    plan = make_plan(str(source), str(destination))
    with pytest.raises(HeldTooLong):  # the fallback it took holds the whole state
        write_keras_archive(plan, one_at_a_time(converted_pairs(plan)), str(destination))
    write_keras_archive(plan, converted_pairs(plan), str(destination))
    x = np.random.default_rng(1).standard_normal((2, 5, plan.spec.input_size)).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(np.asarray(keras.models.load_model(destination)(x)), expected, atol=1e-5)
