"""One small LSTM (input 3, hidden 4) saved in every weight-file format rnncalc reads, each by
its own library: PyTorch's ``torch.save``, ``safetensors``, Keras's ``model.save`` (``.keras``
and legacy ``.h5``), ``flax.serialization`` and ``onnx`` (the ONNX graph through rnncalc's
writer, which builds it with ``onnx.helper``). Used by the tests of what every file command
does whatever the format."""

from __future__ import annotations

from pathlib import Path

#: Every format, by extension, with the number of parameters its framework counts.
PARAMS = {"pt": 144, "safetensors": 144, "keras": 128, "h5": 128, "onnx": 144, "msgpack": 128}


def write_lstm_files(directory: Path, stem: str = "lstm") -> dict[str, Path]:
    """``{extension: path}`` of the LSTM in each format, written under ``directory``."""
    import torch
    from safetensors.torch import save_file

    from rnncalc.notebook import run_command

    paths = {extension: directory / f"{stem}.{extension}" for extension in PARAMS}
    torch.manual_seed(0)
    state = torch.nn.LSTM(3, 4).state_dict()
    torch.save(state, paths["pt"])
    save_file(state, str(paths["safetensors"]))
    _save_keras(paths["keras"], paths["h5"])
    _save_flax(paths["msgpack"])
    converted = run_command(f"convert {paths['pt']} -o {paths['onnx']} --no-verify")
    assert converted.exit_code == 0, converted.stderr
    return paths


def _save_keras(*paths: Path) -> None:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(4)])
    for path in paths:
        model.save(path)


def _save_flax(path: Path) -> None:
    from flax import nnx, serialization

    model = nnx.RNN(nnx.LSTMCell(3, 4, rngs=nnx.Rngs(0)))
    path.write_bytes(serialization.msgpack_serialize(nnx.to_pure_dict(nnx.state(model, nnx.Param))))
