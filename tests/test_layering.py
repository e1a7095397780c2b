"""The packages of rnncalc form a stack of layers: each imports only the layers below it.

The dependency graph is read from the source with :mod:`ast`, not from ``sys.modules``: every
``import`` and ``from ... import``, at module level, inside functions and under
``TYPE_CHECKING`` alike. A lazy import is still a dependency of the design (it runs when the
function does), and an import for annotations only still couples the packages (mypy and the
reader follow it, and the type it names is part of the interface), so none is exempt.
Imports by name (``importlib.import_module``) are not seen: rnncalc's stay inside a package
(the CLI's commands, each convention's ``files_module`` and ``live_module``).
A package is ``rnncalc.<first component>``: a subpackage (``rnncalc.frameworks``) or a
top-level module (``rnncalc.reference``); the root package ``rnncalc`` is the public API.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import rnncalc

ROOT = Path(rnncalc.__file__).parent

#: Bottom to top. A package imports only packages of lower layers (and itself), so packages of
#: one layer never import each other and the graph has no cycle.
LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset("rnncalc" if name == "rnncalc" else f"rnncalc.{name}" for name in layer.split())
    for layer in (
        "core",  # spec, model, conventions' analytic half, reports, errors
        "io",  # file readers, config files, tensor data
        "reference",  # numpy forward passes of a stack
        "reference_parts",  # ... and of a whole model's parts
        "frameworks",  # the registry, each framework's convention, its files and live objects
        "analysis summary",  # the calculator over the registry; its tables
        "inspect",  # reading a file's or an object's layers and chains
        "convert",  # moving weights from one file to another
        "check cost explain diagram verify",  # the other capabilities
        "cli",  # the click commands
        "notebook",  # %rnncalc and show()
        "rnncalc",  # the public API (rnncalc/__init__.py)
        "__main__",  # python -m rnncalc
    )
)
LAYER_OF = {package: index for index, layer in enumerate(LAYERS) for package in layer}

#: Imports that still run upward, each with why. The ``expect:`` block of a config file names
#: frameworks, so reading it needs the registry's names (two floors up); passing a reader or
#: the names down through every config reader, or moving the reader above ``check``, is left to
#: a change of the config reader itself.
UPWARD = {("rnncalc/io/config.py", "rnncalc.check.model")}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str:
    """``rnncalc.frameworks.torch`` → ``rnncalc.frameworks``; ``rnncalc`` stays ``rnncalc``."""
    return ".".join(module.split(".")[:2])


def imported(path: Path, module: str | None = None) -> Iterator[tuple[int, str]]:
    """``(line, module)`` of every rnncalc module ``path`` (the module ``module``, by default
    the one at that path) imports, wherever the import is.

    ``from rnncalc.x import y`` imports ``rnncalc.x``; ``from rnncalc import y`` imports the
    submodule ``rnncalc.y`` where there is one, else the root package (``__version__``)."""
    module = module or module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *filter(None, [base])])
            names = [base]
            if base == "rnncalc":
                names = [submodule(f"rnncalc.{alias.name}") for alias in node.names]
        else:
            continue
        yield from ((node.lineno, name) for name in names if name.partition(".")[0] == "rnncalc")


def submodule(name: str) -> str:
    """``name`` when it is a module of the package, else the root package."""
    relative = Path(*name.split(".")[1:])
    found = (ROOT / relative).is_dir() or (ROOT / relative).with_suffix(".py").is_file()
    return name if found else "rnncalc"


def imports() -> Iterator[tuple[str, str, str, int, str]]:
    """``(importer's package, imported package, file, line, module)`` across packages."""
    for path in sorted(ROOT.rglob("*.py")):
        source = package_of(module_name(path))
        for line, name in imported(path):
            if package_of(name) != source:
                yield source, package_of(name), str(path.relative_to(ROOT.parent)), line, name


def test_every_package_has_a_layer() -> None:
    packages = {package_of(module_name(path)) for path in ROOT.rglob("*.py")}
    assert sorted(packages - set(LAYER_OF)) == []


def test_no_package_imports_its_own_layer_or_one_above_it() -> None:
    upward = [
        f"{file}:{line} imports {name} ({source} is below or beside {target})"
        for source, target, file, line, name in imports()
        if LAYER_OF[target] >= LAYER_OF[source] and (file, name) not in UPWARD
    ]
    assert upward == [], "\n".join(upward)


def test_every_import_allowed_upward_is_still_there() -> None:
    """An exception that no longer applies is removed, so the list only shrinks."""
    assert UPWARD - {(file, name) for _, _, file, _, name in imports()} == set()


def test_no_framework_module_imports_a_renderer() -> None:
    """A framework module imports core, io, the reference and its own package: never a
    renderer (``*.render``, the summary's tables, the diagrams, the CLI)."""
    renderers = {"rnncalc.summary", "rnncalc.diagram", "rnncalc.cli"}
    found = [
        f"{path.relative_to(ROOT.parent)}:{line} imports {name}"
        for path in sorted((ROOT / "frameworks").glob("*.py"))
        for line, name in imported(path)
        if name.rpartition(".")[2] == "render" or package_of(name) in renderers
    ]
    assert found == [], "\n".join(found)


def test_the_walk_sees_relative_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    """The walk itself: an import inside a function, one under TYPE_CHECKING and a relative one
    all count, and ``from rnncalc import`` a name that is no module is the root package."""
    path = tmp_path / "probe.py"
    path.write_text(
        "from typing import TYPE_CHECKING\n"
        "from ..io import text\n"
        "if TYPE_CHECKING:\n"
        "    from rnncalc.cli import cli\n"
        "def f():\n"
        "    from rnncalc import convert, __version__\n"
        "    import rnncalc.summary.render\n"
    )
    assert sorted(imported(path, "rnncalc.core.probe")) == [
        (2, "rnncalc.io"),
        (4, "rnncalc.cli"),
        (6, "rnncalc"),
        (6, "rnncalc.convert"),
        (7, "rnncalc.summary.render"),
    ]
