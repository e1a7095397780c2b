"""Hypothesis throws random bytes, random nested structures and random flag values at every
reader and command. Whatever comes in: a result, or one ``rnncalc: error:`` line with exit 2;
never a traceback, never more than a few seconds (an alarm fails a slow example).

Default runs are derandomized and small (the whole file runs in well under a minute); the
``slow`` variants run many more examples.
"""

from __future__ import annotations

import contextlib
import json
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnncalc.cli import cli
from rnncalc.io.config import BadEntry, ConfigError, ModelEntry, read_source

#: Seconds one example may take before it counts as a hang.
ALARM = 10
FAST = settings(
    derandomize=True, max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
SLOW = settings(
    derandomize=False, max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@contextlib.contextmanager
def bounded_time(seconds: int = ALARM) -> Iterator[None]:
    """Fail (instead of hanging) when the block runs longer than ``seconds``."""

    expired: list[bool] = []

    def expire(signum: int, frame: Any) -> None:
        expired.append(True)  # also recorded: an exception raised inside a gc callback is lost
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert not expired, f"took more than {seconds} s"


def read_bytes_as(suffix: str, data: bytes) -> list[ModelEntry | BadEntry]:
    """Read ``data`` as a file with ``suffix``; only :class:`ConfigError` may escape."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"input{suffix}"
        path.write_bytes(data)
        with bounded_time():
            return read_source(str(path))


def assert_reads_or_refuses(suffix: str, data: bytes) -> None:
    try:
        entries = read_bytes_as(suffix, data)
    except ConfigError as error:
        assert "\n" not in str(error) and str(error)
        return
    for entry in entries:
        if isinstance(entry, BadEntry):
            assert "\n" not in str(entry.error)


# --- Random bytes at every reader ------------------------------------------------------------

#: Bytes with a bias towards the characters parsers care about.
_PUNCTUATION = "{}[]:,\"'&*!-#\n =.\\\t"
SYNTAX = st.binary(max_size=400) | st.text(
    alphabet=st.sampled_from([*_PUNCTUATION, "a", "1", "\xff", "é", "\u2028", "\x00"]),
    max_size=400,
).map(lambda text: text.encode("utf-8", "surrogatepass"))

SUFFIXES = [".yaml", ".json", ".toml", ".jsonl"]


@pytest.mark.parametrize("suffix", SUFFIXES)
@FAST
@given(data=SYNTAX)
def test_random_bytes_are_read_or_refused_by_every_reader(suffix: str, data: bytes) -> None:
    assert_reads_or_refuses(suffix, data)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", SUFFIXES)
@SLOW
@given(data=SYNTAX)
def test_random_bytes_are_read_or_refused_by_every_reader_at_length(suffix: str, data: bytes) -> None:
    assert_reads_or_refuses(suffix, data)


# --- Random nested structures ----------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["lstm", "gru", "rnn", "8", "1M", "1,5M", "tanh", "concat"])
)
KEYS = st.sampled_from(
    ["cell", "hidden_size", "input_size", "num_layers", "layers", "dense", "embedding", "expect", "name",
     "max_params", "torch", "keras", "outputs", "units", "models", "class_name", "config", "bias", "x"]
)  # fmt: skip
TREES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=30,
)
MODELS = st.fixed_dictionaries(
    {"cell": st.sampled_from(["lstm", "gru", "rnn"]), "hidden_size": st.integers(1, 64)},
    optional={
        "input_size": TREES,
        "layers": TREES,
        "dense": TREES,
        "embedding": TREES,
        "expect": TREES,
        "name": TREES,
        "num_layers": TREES,
    },
)


def assert_structure_reads_or_refuses(document: Any) -> None:
    assert_reads_or_refuses(".json", json.dumps(document).encode())
    assert_reads_or_refuses(".yaml", yaml.safe_dump(document).encode())
    if isinstance(document, dict):
        assert_reads_or_refuses(".jsonl", (json.dumps(document) + "\n").encode())


@FAST
@given(document=TREES | MODELS | st.lists(MODELS, max_size=3))
def test_random_nested_structures_are_read_or_refused(document: Any) -> None:
    assert_structure_reads_or_refuses(document)


@pytest.mark.slow
@SLOW
@given(document=TREES | MODELS | st.lists(MODELS, max_size=3))
def test_random_nested_structures_are_read_or_refused_at_length(document: Any) -> None:
    assert_structure_reads_or_refuses(document)


# --- Random values for every command's flags --------------------------------------------------

VALUES = st.text(max_size=30) | st.sampled_from(
    ["-1", "0", "1" * 50, "1e9", "2147483648", "²", "٣", "1,5M", "1:10:x2", "nan", "inf", "@/dev/zero",
     "@/nonexistent", "-", "8,16", "1:100000000000:+1", "\x1b[2J", "a\nb", "1_000", "lstm", "all", "none"]
)  # fmt: skip
#: A valid base command line per command and the flags that take a value there.
COMMANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "summary": (
        ("-c", "lstm", "-i", "5", "-H", "8"),
        ("-c", "-i", "-H", "-l", "-b", "-t", "--proj-size", "--max-file-size"),
    ),
    "check": (
        ("--against", "none", "-c", "gru", "-i", "5", "-H", "8"),
        # --against stays none: importing TensorFlow alone can take the whole alarm on a busy machine
        ("-c", "-i", "-H", "-l", "-b", "-t", "--max-params", "--max-memory", "--max-file-size", "-f"),
    ),
    "cost": (("-c", "lstm", "-i", "5", "-H", "8"), ("-i", "-H", "-l", "-b", "-t", "--lengths", "--dtype")),
    "solve": (("-c", "lstm", "-i", "5", "--max-params", "1M"), ("-i", "-l", "--max-params", "--max-memory")),
    "sweep": (("-c", "lstm", "-i", "5", "-H", "8,16"), ("-i", "-H", "-l", "--lengths")),
    "explain": (("-c", "lstm", "-i", "5", "-H", "8"), ("-c", "-i", "-H", "-l", "--proj-size")),
    "code": (("-c", "lstm", "-i", "5", "-H", "8"), ("-i", "-H", "-l", "-b", "-t")),
}
CASES = st.sampled_from(sorted(COMMANDS)).flatmap(
    lambda command: st.tuples(st.just(command), st.sampled_from(COMMANDS[command][1]), VALUES)
)


def assert_result_or_one_error(command: str, flag: str, value: str) -> None:
    base, _ = COMMANDS[command]
    with bounded_time():
        result = CliRunner().invoke(cli, [command, *base, flag, value], prog_name="rnncalc")
    assert isinstance(result.exception, SystemExit) or result.exception is None, repr(result.exception)
    assert result.exit_code in (0, 1, 2)
    assert "\x1b" not in result.stdout + result.stderr
    if result.exit_code == 2 and command != "check":
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("rnncalc: error: "), result.stderr


@settings(FAST, max_examples=150)
@given(case=CASES)
def test_random_flag_values_give_a_result_or_one_error_line(case: tuple[str, str, str]) -> None:
    assert_result_or_one_error(*case)


@pytest.mark.slow
@SLOW
@given(case=CASES)
def test_random_flag_values_give_a_result_or_one_error_line_at_length(case: tuple[str, str, str]) -> None:
    assert_result_or_one_error(*case)
