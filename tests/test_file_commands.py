"""What every file command does with every format, from real files written by each library
(:mod:`model_files`): without the optional packages (a plain ``pip install .``), and with
file names in upper case."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from documents import unnamed
from model_files import PARAMS, write_lstm_files

from rnncalc.notebook import run_command

pytest.importorskip("torch")
pytest.importorskip("keras")
pytest.importorskip("flax")
pytest.importorskip("onnx")

#: The formats ``inspect`` reads, and those ``convert`` reads and writes.
INSPECTED = ("pt", "safetensors", "keras", "h5", "onnx")
SOURCES = ("pt", "safetensors", "keras", "onnx", "msgpack")
TARGETS = ("pt", "safetensors", "keras", "onnx", "msgpack")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_lstm_files(tmp_path_factory.mktemp("models"))


# --- Without numpy or any framework -----------------------------------------------------------

#: Runs each command line of argv[1] (JSON) in-process, as after a plain ``pip install .``: only
#: click, tabulate and PyYAML beside the standard library; numpy and every package that needs
#: it (or that an extra brings) fail to import. Prints ``[line, exit, stdout, stderr]`` rows; an
#: exception that escapes the command is a row with exit None and its traceback.
WITHOUT_EXTRAS = """
import json, sys, traceback
BLOCKED = {"numpy", "torch", "tensorflow", "keras", "jax", "jaxlib", "flax", "onnx", "onnxruntime",
           "h5py", "ml_dtypes", "safetensors", "msgpack"}

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Block())
from rnncalc.notebook import run_command
rows = []
for line in json.loads(sys.argv[1]):
    try:
        out = run_command(line)
        rows.append([line, out.exit_code, out.stdout, out.stderr])
    except BaseException:
        rows.append([line, None, "", traceback.format_exc()])
print(json.dumps(rows))
"""


def run_without_extras(lines: list[str]) -> list[list[object]]:
    proc = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS, json.dumps(lines)], capture_output=True, text=True, check=True
    )
    rows: list[list[object]] = json.loads(proc.stdout)
    return rows


def test_without_numpy_every_file_command_ends_in_one_line_with_the_install_hint(
    models: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    lines = [
        f"convert {models[s]} -o {out}.{t}{v}" for s in SOURCES for t in TARGETS for v in ("", " --no-verify")
    ]
    lines += [f"inspect {models[f]}" for f in INSPECTED]
    lines += ["verify -c lstm -i 3 -H 4", "verify -c gru -i 3 -H 4 --against torch"]
    rows = run_without_extras(lines)
    readable_alone = set()
    for line, code, stdout, stderr in rows:
        assert code is not None, f"{line}:\n{stderr}"
        if code == 0:  # a reader that needs nothing but the standard library
            assert str(line).startswith("inspect "), line
            readable_alone.add(Path(str(line).split()[1]).suffix)
            continue
        assert code == 2 and stdout == "", (line, code, stdout)
        assert len(str(stderr).splitlines()) == 1, (line, stderr)
        assert str(stderr).startswith("rnncalc: error: ") and "pip install 'rnncalc[" in str(stderr), line
    assert not list(tmp_path.iterdir())  # no destination, nor a temporary file
    assert readable_alone == {".safetensors", ".keras"}  # headers and HDF5 metadata, read by hand
    # Each source names what reading it needs: its framework's reader, else numpy for the values.
    needs = {"pt": "needs torch", "onnx": "needs onnx", "keras": "needs h5py"}
    for line, _, _, stderr in rows[: len(SOURCES) * len(TARGETS) * 2]:
        source = Path(str(line).split()[1]).suffix[1:]
        assert needs.get(source, "numpy is not installed; this command needs it") in str(stderr), line


# --- Extensions in upper case ------------------------------------------------------------------
# rnncalc recognises every extension whatever its case, as users expect of MODEL.ONNX.


def upper(models: dict[str, Path], extension: str, directory: Path) -> Path:
    """A copy of the model file named in upper case, extension included."""
    path = directory / f"LSTM.{extension.upper()}"
    shutil.copyfile(models[extension], path)
    return path


@pytest.mark.parametrize("extension", INSPECTED)
def test_inspect_reads_a_file_named_in_upper_case_as_in_lower_case(
    models: dict[str, Path], tmp_path: Path, extension: str
) -> None:
    path = upper(models, extension, tmp_path)
    shown, lower = (run_command(f"inspect {file} -f json") for file in (path, models[extension]))
    assert shown.exit_code == 0 and shown.stderr == "", shown.stderr
    document, expected = json.loads(shown.stdout), json.loads(lower.stdout)
    assert document["total_params"] == PARAMS[extension]
    assert unnamed(document) == unnamed(expected)


@pytest.mark.parametrize(("source", "target"), list(zip(SOURCES, TARGETS[1:] + TARGETS[:1], strict=True)))
def test_convert_reads_and_writes_files_named_in_upper_case(
    models: dict[str, Path], tmp_path: Path, source: str, target: str
) -> None:
    path = upper(models, source, tmp_path)
    destination = tmp_path / f"OUT.{target.upper()}"
    result = run_command(f"convert {path} -o {destination}")
    assert result.exit_code == 0, result.stderr
    written, verified = result.stdout.splitlines()
    assert written.startswith(f"{destination}: ") and f", {PARAMS[target]} parameters" in written
    assert verified.endswith(": ok")
    if target == "keras":  # Keras's load_model reads only names ending in '.keras'
        note = (
            "Keras 3 loads this format only from a name ending in '.keras'; rename the file to load it there"
        )
        assert result.stderr == f"rnncalc: note: {destination}: {note}\n"
        import keras

        shutil.copyfile(destination, tmp_path / "renamed.keras")
        assert keras.saving.load_model(tmp_path / "renamed.keras").count_params() == PARAMS[target]
    else:
        assert result.stderr == ""


@pytest.mark.parametrize("example", ["sentiment.yaml", "char_lm.toml"])
def test_a_config_file_named_in_upper_case_reads_as_in_lower_case(tmp_path: Path, example: str) -> None:
    original = Path(__file__).resolve().parent.parent / "examples" / example
    path = tmp_path / example.upper()
    shutil.copyfile(original, path)
    shown, expected = run_command(f"summary {path}"), run_command(f"summary {original}")
    assert shown.exit_code == 0 and shown.stderr == ""
    assert shown.stdout == expected.stdout
