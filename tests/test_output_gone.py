"""Every command survives its output going away: stdout on a full device (``/dev/full``), a
pipe whose reader has gone (``rnncalc ... | head -c1`` once ``head`` has exited), or stdout
closed before the start. Each ends with one line on stderr or none, exit 1 or 2, and never a
traceback. Run in subprocesses: the streams are the real ones."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rnncalc.cli import LAZY_COMMANDS

#: One cheap, valid run of each command ({dir}: a directory holding lstm.safetensors).
COMMANDS: dict[str, list[str]] = {
    "summary": ["summary", "-c", "lstm", "-H", "8", "-i", "5"],
    "explain": ["explain", "-c", "lstm", "-H", "8", "-i", "5", "-F", "all"],
    "code": ["code", "-c", "gru", "-H", "8", "-i", "5"],
    "check": ["check", "-c", "lstm", "-H", "8", "-i", "5", "--against", "none"],
    "verify": ["verify", "-c", "rnn", "-H", "2", "-i", "2", "--against", "torch"],
    "cost": ["cost", "-c", "lstm", "-H", "8", "-i", "5", "-b", "2", "-t", "3"],
    "solve": ["solve", "-c", "lstm", "-i", "5", "--max-params", "10k"],
    "sweep": ["sweep", "-c", "lstm,gru", "-H", "8:1024:x2", "-i", "5"],
    "diagram": ["diagram", "-c", "lstm", "-H", "8", "-i", "5"],
    "inspect": ["inspect", "{dir}/lstm.safetensors"],
    "convert": ["convert", "{dir}/lstm.safetensors", "-o", "{dir}/out.safetensors", "--force"],
    "schema": ["schema"],
}


def test_every_command_is_tried() -> None:
    assert set(COMMANDS) == set(LAZY_COMMANDS)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    np = pytest.importorskip("numpy")
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    directory = tmp_path_factory.mktemp("weights")
    rng = np.random.default_rng(0)
    shapes = {"weight_ih_l0": (16, 3), "weight_hh_l0": (16, 4), "bias_ih_l0": (16,), "bias_hh_l0": (16,)}
    tensors = {name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes.items()}
    safetensors_numpy.save_file(tensors, str(directory / "lstm.safetensors"))
    return directory


@pytest.fixture
def broken_pipe() -> Iterator[int]:
    """The write end of a pipe whose read end is already closed."""
    read, write = os.pipe()
    os.close(read)
    yield write
    os.close(write)


def run(args: list[str], stdout: Any, close_stdout: bool = False) -> tuple[int, str]:
    command = [sys.executable, "-m", "rnncalc", *args]
    if close_stdout:  # by the shell, not preexec_fn: forking a process that runs JAX's threads
        command = ["/bin/sh", "-c", 'exec "$@" >&-', "sh", *command]
    proc = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    return proc.returncode, proc.stderr


def assert_survived(code: int, stderr: str, expected: str | None) -> None:
    assert "Traceback" not in stderr, stderr
    assert code in (1, 2), (code, stderr)
    lines = stderr.splitlines()
    assert len(lines) <= 1, stderr
    if expected is not None:
        assert lines == [f"rnncalc: error: cannot write the output: {expected}"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_full_device_is_one_line_and_exit_2(name: str, weights: Path) -> None:
    args = [arg.format(dir=weights) for arg in COMMANDS[name]]
    with open("/dev/full", "w") as full:
        code, stderr = run(args, full)
    assert_survived(code, stderr, "No space left on device")
    assert code == 2


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_pipe_whose_reader_is_gone_ends_quietly_with_exit_1(
    name: str, weights: Path, broken_pipe: int
) -> None:
    # As click does for EPIPE, and as `yes | head -c1` ends: nothing more to say to anyone.
    code, stderr = run([arg.format(dir=weights) for arg in COMMANDS[name]], broken_pipe)
    assert_survived(code, stderr, None)
    assert (code, stderr) == (1, "")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_stdout_closed_from_the_start_is_one_line_and_exit_2_before_any_work(
    name: str, weights: Path
) -> None:
    (weights / "out.safetensors").unlink(missing_ok=True)
    args = [arg.format(dir=weights) for arg in COMMANDS[name]]
    code, stderr = run(args, subprocess.DEVNULL, close_stdout=True)
    assert_survived(code, stderr, "stdout is closed")
    assert not (weights / "out.safetensors").exists()  # convert refused before writing anything
