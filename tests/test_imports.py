"""The analytic paths never import a framework or numpy, and JSON output never imports tabulate."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rnncalc import __version__

HEAVY = ("torch", "tensorflow", "keras", "numpy")

PROBE = """
import sys
from rnncalc.cli import cli
try:
    cli.main(sys.argv[1:], prog_name="rnncalc", standalone_mode=False)
finally:
    sys.stdout.flush()
    loaded = sorted(m for m in sys.modules if "." not in m)
    import json  # only now: the probe must not hide whether the command imported it
    sys.stderr.write(json.dumps(loaded))
"""


def loaded_modules(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(result.stderr.splitlines()[-1]))


SUMMARY = ("summary", "--cell", "rnn", "--hidden", "8", "--bi", "--input", "5")
COST = ("cost", "-c", "lstm", "-i", "30", "-H", "16", "-b", "2", "-t", "5")


@pytest.mark.parametrize("args", [SUMMARY, (*SUMMARY, "--format", "json"), COST, (*COST, "-f", "json")])
def test_analytic_commands_import_no_framework_and_no_numpy(args: tuple[str, ...]) -> None:
    assert loaded_modules(*args).isdisjoint(HEAVY)


@pytest.mark.parametrize("args", [(*SUMMARY, "--format", "json"), (*COST, "-f", "json")])
def test_json_output_does_not_import_tabulate(args: tuple[str, ...]) -> None:
    assert "tabulate" not in loaded_modules(*args)


def test_table_output_does_import_tabulate_so_the_probe_can_see_imports() -> None:
    assert "tabulate" in loaded_modules(*SUMMARY)


@pytest.mark.parametrize("args", [(*SUMMARY, "--format", "json"), ("--version",)])
def test_json_summary_and_version_skip_importlib_metadata_and_difflib(args: tuple[str, ...]) -> None:
    loaded = loaded_modules(*args)
    assert "difflib" not in loaded
    assert "importlib" in loaded  # the probe sees the importlib package itself
    result = subprocess.run(
        [sys.executable, "-c", PROBE.replace('"." not in m', "True"), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "importlib.metadata" not in json.loads(result.stderr.splitlines()[-1])


def test_cost_solve_and_sweep_are_not_imported_by_summary() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.replace('"." not in m', "True"), *SUMMARY, "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = set(json.loads(result.stderr.splitlines()[-1]))
    assert {"rnncalc.cli.cost", "rnncalc.cost.model", "rnncalc.cost.solve", "rnncalc.core.units"}.isdisjoint(
        loaded
    )
    assert "rnncalc.cli.summary" in loaded


def rnncalc_modules(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.replace('"." not in m', 'm.startswith("rnncalc")'), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(json.loads(result.stderr.splitlines()[-1]))


def test_json_summary_of_flags_imports_exactly_the_calculator_modules_it_uses() -> None:
    # Each module here costs start-up time (its classes are built at import); a new one on this
    # path should be a deliberate choice, made by editing this set.
    assert rnncalc_modules(*SUMMARY, "--format", "json") == {
        "rnncalc",
        "rnncalc.cli",
        "rnncalc.cli.command",
        "rnncalc.cli.options",
        "rnncalc.cli.summary",
        "rnncalc.core",
        "rnncalc.core.version",  # one constant, below the CLI that shows it (tests/test_layering.py)
        "rnncalc.core.errors",
        "rnncalc.core.frozen",
        "rnncalc.core.limits",  # the bounds Spec validates against (issue 11)
        "rnncalc.core.spec",
        "rnncalc.core.text",  # control characters escaped in messages (issue 11)
        "rnncalc.core.symbolic",
        "rnncalc.core.convention",
        # Part kinds key each convention's table of model parts (issue 19): two enums, ~0.6 ms.
        "rnncalc.core.parts",
        "rnncalc.frameworks",
        "rnncalc.frameworks.base",
        "rnncalc.frameworks.contract",
        "rnncalc.frameworks.snippet",
        # The registry imports every framework module; their analytic parts are pure.
        "rnncalc.frameworks.torch",
        "rnncalc.frameworks.keras",
        "rnncalc.frameworks.flax",
        "rnncalc.frameworks.onnx",
        "rnncalc.analysis",
        "rnncalc.core.report",
        "rnncalc.core.calc",
        "rnncalc.summary",
        "rnncalc.summary.render",
    }


@pytest.mark.parametrize("args", [(*SUMMARY, "--format", "json"), ("--version",)])
def test_json_summary_and_version_skip_dataclasses_and_locale(args: tuple[str, ...]) -> None:
    # dataclasses with the classes they generate (3 ms) and locale, which click's gettext
    # lookups import (0.6 ms), would take most of what the JSON path may add to click
    # (docs/performance.md has the measured figures).
    assert {"dataclasses", "locale"}.isdisjoint(loaded_modules(*args))


def test_version_skips_json() -> None:
    assert "json" not in loaded_modules("--version")


def test_the_probe_sees_locale_when_click_translates_a_help_page() -> None:
    assert "locale" in loaded_modules(*SUMMARY, "--help")


def test_summary_of_flags_does_not_import_the_model_or_config_modules() -> None:
    loaded = rnncalc_modules(*SUMMARY)
    assert {
        "rnncalc.core.model",
        "rnncalc.io.config",
        "rnncalc.check.model",
        "rnncalc.explain.model",
    }.isdisjoint(loaded)


def test_the_console_entry_point_freezes_the_objects_of_its_imports() -> None:
    # gc.freeze() spares the collections during a command and the final one at exit from
    # traversing click's and rnncalc's module objects (about 3 ms of every start).
    code = (
        "import gc, sys\n"
        "from rnncalc.cli import main\n"
        "sys.argv = ['rnncalc', '--version']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(gc.get_freeze_count(), file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert int(result.stderr.split()[-1]) > 1000
    assert result.stdout == f"rnncalc, version {__version__}\n"
