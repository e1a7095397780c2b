"""Shared fixtures: the CLI runner, golden-file comparison with an overwrite switch."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import seed, settings

# Default runs draw the same cases every time (derandomize), so a CI failure reproduces with
# plain `pytest`. The slow runs (`pytest -m slow`) draw fresh cases from a seed that the header
# prints; RNNCALC_SLOW_SEED=N pytest -m slow replays a run.
settings.register_profile("rnncalc", derandomize=True)
settings.load_profile("rnncalc")
SLOW_SEED = int(os.environ.get("RNNCALC_SLOW_SEED") or random.SystemRandom().randrange(2**32))

# Silence TensorFlow before any test imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

# Helper modules holding shared asserts: pytest shows the compared values on failure there too.
pytest.register_assert_rewrite("snippet_runner")

GOLDEN_DIR = Path(__file__).parent / "golden"


def pytest_report_header() -> str:
    return f"hypothesis: default runs derandomized; slow runs seeded RNNCALC_SLOW_SEED={SLOW_SEED}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not isinstance(item, pytest.Function) or item.get_closest_marker("slow") is None:
            continue
        if getattr(item.obj, "is_hypothesis_test", False):  # a slow test may draw no cases
            seed(SLOW_SEED)(item.obj)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite tests/golden/* from the current output instead of comparing.",
    )


@pytest.fixture
def run_cli() -> Callable[..., Result]:
    """Invoke ``rnncalc`` in-process with stdout and stderr kept apart."""
    from rnncalc.cli import cli

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=input, prog_name="rnncalc")

    return invoke


@pytest.fixture
def run_json(run_cli: Callable[..., Result]) -> Callable[..., Any]:
    """Run a command with ``--format json`` and parse stdout; fails on a non-zero exit."""

    def invoke(*args: str) -> Any:
        result = run_cli(*args, "--format", "json")
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    return invoke


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when pytest runs with --update-golden."""
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def golden(update_golden: bool) -> Callable[[str, str], None]:
    """Compare text with ``tests/golden/<name>``; ``pytest --update-golden`` rewrites it."""

    def check(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if update_golden:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        assert path.exists(), f"missing golden file {path}; run pytest --update-golden"
        assert text == path.read_text(encoding="utf-8"), f"output differs from {path}"

    return check


_SCHEMA_VALIDATOR: Any = None


def _model_validator() -> Any:
    """The JSON Schema validator of one model (``$defs/model`` of rnncalc/schema.json)."""
    global _SCHEMA_VALIDATOR
    if _SCHEMA_VALIDATOR is None:
        from jsonschema import Draft202012Validator

        schema = json.loads((Path(__file__).parent.parent / "rnncalc" / "schema.json").read_text())
        _SCHEMA_VALIDATOR = Draft202012Validator({"$defs": schema["$defs"], "$ref": "#/$defs/model"})
    return _SCHEMA_VALIDATOR


@pytest.fixture(autouse=True)
def every_config_the_reader_accepts_fits_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every model mapping a test has the config reader accept also validates against the
    published JSON Schema (rnncalc/schema.json), so the schema covers what the tests use."""
    from rnncalc.io import config

    read = config._model_entry

    def checked(located: Any, data: Any, path: Any, key: str = "") -> Any:
        entry = read(located, data, path, key)
        errors = sorted(_model_validator().iter_errors(data), key=str)
        if errors:
            pytest.fail(f"the reader accepts a model the schema rejects: {errors[0].message} in {data!r}")
        return entry

    monkeypatch.setattr(config, "_model_entry", checked)
