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
        if (
            item.get_closest_marker("slow") is not None
            and isinstance(item, pytest.Function)
            and getattr(item.obj, "is_hypothesis_test", False)  # a slow test without @given
        ):
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
