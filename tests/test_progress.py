"""Progress on stderr: a status line under a terminal, nothing through a pipe or with --quiet."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from rnncalc.cli.progress import ERASE_LINE, Progress

ROOT = Path(__file__).parent.parent
CHECK = ("check", "-c", "rnn", "-i", "3", "-H", "4", "--against", "torch")
SWEEP = ("sweep", "-c", "rnn,lstm,gru", "-H", "1:300:+1", "-i", "10", "-f", "csv")


def _environment() -> dict[str, str]:
    # Counts from the first item: a quick machine would otherwise finish before they show.
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "RNNCALC_PROGRESS_DELAY": "0"}


def run_under_terminal(*args: str) -> tuple[int, str, str]:
    """Run ``rnncalc args`` with stderr on a pseudo-terminal; stdout goes to a file."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    with tempfile.TemporaryFile() as stdout:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rnncalc", *args],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=slave,
            env=_environment(),
        )
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # the terminal closes when the last writer exits (EIO on Linux)
                break
            if not data:
                break
            chunks.append(data)
        os.close(master)
        code = proc.wait(timeout=120)
        stdout.seek(0)
        return code, stdout.read().decode(), b"".join(chunks).decode()


def run_through_pipes(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rnncalc", *args],
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=120,
    )


def test_check_under_a_terminal_says_it_is_importing_the_framework_then_erases_the_line() -> None:
    pytest.importorskip("torch")
    code, stdout, stderr = run_under_terminal(*CHECK)
    assert code == 0
    assert "importing torch..." in stderr
    assert stderr.endswith(ERASE_LINE)  # nothing left on the terminal's last line
    assert "importing" not in stdout and "\r" not in stdout  # results stay clean


def test_check_through_a_pipe_writes_no_progress() -> None:
    pytest.importorskip("torch")
    result = run_through_pipes(*CHECK)
    assert result.returncode == 0
    assert "importing" not in result.stderr and "\r" not in result.stderr and "\x1b" not in result.stderr


def test_quiet_silences_progress_under_a_terminal() -> None:
    pytest.importorskip("torch")
    code, _, stderr = run_under_terminal(*CHECK, "--quiet")
    assert code == 0
    assert stderr == ""


def test_a_large_sweep_under_a_terminal_counts_its_specs() -> None:
    code, stdout, stderr = run_under_terminal(*SWEEP)
    assert code == 0
    assert "specs 900/900" in stderr  # the last count is always drawn
    assert len(stdout.splitlines()) == 1 + 900  # the CSV header and one row per spec
    assert run_through_pipes(*SWEEP).stderr == ""


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_counts_wait_for_the_delay_and_redraw_at_most_every_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr("rnncalc.cli.progress.time", SimpleNamespace(monotonic=lambda: now[0]))
    stream = Terminal()
    status = Progress(stream)  # started at 0.0
    for moment, done in ((0.1, 1), (0.5, 2), (0.55, 3), (0.58, 4)):
        now[0] = moment
        status.count(done, 4)  # 0.1: before the delay; 0.55: too soon; 0.58: the last, drawn
    assert stream.getvalue() == f"{ERASE_LINE}models 2/4{ERASE_LINE}models 4/4"


def test_a_stream_that_is_not_a_terminal_gets_nothing() -> None:
    stream = io.StringIO()
    with Progress(stream) as status:
        status.status("importing keras...")
        status.count(10, 10)
    assert stream.getvalue() == ""


def test_convert_under_a_terminal_says_what_it_reads_writes_and_runs(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    source, target = tmp_path / "lstm.pt", tmp_path / "lstm.onnx"
    torch.save(torch.nn.LSTM(3, 4).state_dict(), source)
    code, stdout, stderr = run_under_terminal("convert", str(source), "-o", str(target))
    assert code == 0, stderr
    for line in (f"reading {source}...", f"writing {target}...", "running source and target"):
        assert line in stderr
    assert stderr.endswith(ERASE_LINE)
    assert "verify: source " in stdout and "largest |difference|" in stdout and "\r" not in stdout
    assert run_through_pipes("convert", str(source), "-o", str(target), "--force").stderr == ""
