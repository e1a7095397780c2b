"""Config files (YAML, JSON, TOML, JSONL, Keras ``to_json()``) and stdin → models.

Every value is checked where it enters: unknown keys (with a did-you-mean), wrong types,
missing fields and values out of range raise :class:`ConfigError`, which names the file,
the line (when the parser gives one) and the key. Nothing is silently ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnncalc.core.errors import RnncalcError, SpecError
from rnncalc.core.model import (
    FLAT_ONLY_FIELDS,
    LAYER_FIELDS,
    MODEL_SHAPE_FIELDS,
    FieldPathError,
    Model,
    build_model,
    format_path,
    model_from_spec,
)
from rnncalc.core.spec import SPEC_FIELDS, did_you_mean, spec_from_mapping

if TYPE_CHECKING:  # check code is imported only when a file has an expect: block
    from rnncalc.check.model import Expectations

Path_ = tuple[str | int, ...]
#: Where ``-`` reads from in messages.
STDIN = "<stdin>"


class ConfigError(RnncalcError, ValueError):
    """A bad config: ``file:line: key: message`` (line and key when known)."""

    def __init__(self, file: str, line: int | None, key: str | None, message: str) -> None:
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")
        self.file = file
        self.line = line
        self.key = key
        self.message = message


@dataclass(frozen=True)
class ModelEntry:
    """One model read from a source, with where it came from (for messages and annotations)."""

    model: Model
    file: str
    line: int | None
    #: The ``expect:`` block; None when the model has none.
    expect: Expectations | None = None
    #: Path of the model inside its file (``models[2]``), empty for a one-model file.
    key: str = ""
    #: Line of each framework's expectation (``expect.torch``), for annotations on that line.
    expect_lines: tuple[tuple[str, int], ...] = ()

    def expectations(self) -> Expectations:
        """The ``expect:`` block, or empty expectations."""
        from rnncalc.check.model import Expectations

        return self.expect if self.expect is not None else Expectations()

    @property
    def source(self) -> str:
        """``file:line`` (or just the file when the line is unknown)."""
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    @property
    def label(self) -> str:
        """The model's ``name``, else its place in the file (``models[2]``, ``line 7``), else its source."""
        return self.model.name or self.key or self.source


@dataclass(frozen=True)
class BadEntry:
    """An input that could not be read (e.g. one bad line of JSONL); the others still run."""

    error: ConfigError


# --- Positions: (key path) → line ----------------------------------------------------------


class _Located:
    """Parsed data plus the 1-based line of every key path the parser could place."""

    def __init__(self, file: str, data: Any, lines: dict[Path_, int]) -> None:
        self.file = file
        self.data = data
        self.lines = lines

    def line(self, path: Path_) -> int | None:
        """The line of ``path``, or of its closest ancestor that has one."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def error(self, path: Path_, message: str) -> ConfigError:
        return ConfigError(self.file, self.line(path), format_path(path) or None, message)


def _yaml_located(file: str, text: str) -> _Located:
    """``yaml.safe_load`` semantics; lines from the composed node tree's start marks."""
    import yaml

    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(file, line, None, f"invalid YAML: {problem}") from None
    lines: dict[Path_, int] = {}

    def walk(current: Any, path: Path_) -> None:
        if isinstance(current, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in current.value:
                key = key_node.value
                if key in seen:  # safe_load would silently keep the last value
                    raise ConfigError(
                        file, key_node.start_mark.line + 1, format_path((*path, key)), "duplicate key"
                    )
                seen.add(key)
                lines[(*path, key)] = key_node.start_mark.line + 1
                walk(value_node, (*path, key))
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                lines[(*path, index)] = item.start_mark.line + 1
                walk(item, (*path, index))

    if node is not None:
        lines[()] = node.start_mark.line + 1
        walk(node, ())
    return _Located(file, data, lines)


def _json_located(file: str, text: str, first_line: int = 1) -> _Located:
    """``json.loads``; lines of keys and list items found by walking the text once."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(file, error.lineno + first_line - 1, None, f"invalid JSON: {error.msg}") from None
    lines: dict[Path_, int] = {}
    decoder = json.JSONDecoder()
    from json.decoder import scanstring  # type: ignore[attr-defined]

    def skip(index: int) -> int:
        while index < len(text) and text[index] in " \t\r\n":
            index += 1
        return index

    def line_of(index: int) -> int:
        return text.count("\n", 0, index) + first_line

    def value(index: int, path: Path_) -> int:
        index = skip(index)
        lines.setdefault(path, line_of(index))
        char = text[index]
        if char == "{":
            index = skip(index + 1)
            if text[index] == "}":
                return index + 1
            seen: set[str] = set()
            while True:
                index = skip(index)
                key, after = scanstring(text, index + 1)
                if key in seen:  # json.loads would silently keep the last value
                    raise ConfigError(file, line_of(index), format_path((*path, key)), "duplicate key")
                seen.add(key)
                lines[(*path, key)] = line_of(index)
                after = skip(after) + 1  # the colon
                index = skip(value(after, (*path, key)))
                if text[index] == ",":
                    index += 1
                    continue
                return index + 1
        if char == "[":
            index = skip(index + 1)
            if text[index] == "]":
                return index + 1
            position = 0
            while True:
                index = skip(value(index, (*path, position)))
                position += 1
                if text[index] == ",":
                    index += 1
                    continue
                return index + 1
        _, end = decoder.raw_decode(text, index)
        return int(end)

    value(0, ())
    return _Located(file, data, lines)


def _toml_located(file: str, text: str) -> _Located:
    """``tomllib``; a key's line is found by scanning for ``key =`` or its table header."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise ConfigError(file, None, None, "reading TOML needs Python 3.11 or newer (tomllib)") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"line (\d+)", str(error))
        line = int(match.group(1)) if match else None
        raise ConfigError(file, line, None, f"invalid TOML: {error}") from None
    source = text.splitlines()
    lines: dict[Path_, int] = {}

    def find(key: str, start: int) -> int | None:
        pattern = re.compile(rf"(^|[\s{{,.\[])\"?{re.escape(key)}\"?\s*(=|\]|\.)")
        for number in range(start, len(source)):
            if pattern.search(source[number].split("#", 1)[0]):
                return number
        return None

    def walk(current: Any, path: Path_, start: int) -> None:
        if isinstance(current, dict):
            for key, item in current.items():
                found = find(str(key), start)
                if found is not None:
                    lines[(*path, key)] = found + 1
                walk(item, (*path, key), found if found is not None else start)
        elif isinstance(current, list):
            # An array of tables: the k-th ``[[...key]]`` header starts the k-th item.
            key = path[-1] if path else ""
            header = re.compile(rf"^\s*\[\[\s*([\w.\"-]+\.)?\"?{re.escape(str(key))}\"?\s*\]\]")
            position = start
            for index, item in enumerate(current):
                found = (
                    next((n for n in range(position, len(source)) if header.match(source[n])), None)
                    if isinstance(item, dict)
                    else None
                )
                if found is not None:
                    lines[(*path, index)] = found + 1
                    position = found + 1
                walk(item, (*path, index), found if found is not None else start)

    walk(data, (), 0)
    # The model starts at its first key (a table header or key = value), after any comments.
    first = next(
        (n for n, text in enumerate(source) if text.strip() and not text.lstrip().startswith("#")), 0
    )
    lines.setdefault((), first + 1)
    return _Located(file, data, lines)


# --- Reading sources -------------------------------------------------------------------------


def read_source(source: str, stdin_text: str | None = None) -> list[ModelEntry | BadEntry]:
    """Every model in one source: a file path, or ``-`` for stdin (JSON, YAML or JSONL).

    A whole-file problem raises :class:`ConfigError`; in JSONL each bad line becomes a
    :class:`BadEntry` so the other lines still run.
    """
    return list(iter_source(source, stdin_text))


def iter_source(source: str, stdin_text: str | None = None) -> Iterator[ModelEntry | BadEntry]:
    """Like :func:`read_source`, but JSONL lines are parsed one at a time as the caller asks
    for them, so a long stream is never held in memory as models all at once.

    The source is read, and a whole-file problem raised, before this returns.
    """
    if source == "-":
        import sys

        text = stdin_text if stdin_text is not None else sys.stdin.read()
        return _iter_text(STDIN, text, kind=_sniff(text))
    path = Path(source)
    suffix = path.suffix.lower()
    kinds = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml", ".jsonl": "jsonl"}
    if suffix not in kinds:
        raise ConfigError(source, None, None, "unknown file type; use .yaml, .yml, .json, .jsonl or .toml")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(source, None, None, f"cannot read: {error.strerror or error}") from None
    return _iter_text(source, text, kind=kinds[suffix])


def _iter_text(file: str, text: str, kind: str) -> Iterator[ModelEntry | BadEntry]:
    return read_jsonl(file, text) if kind == "jsonl" else iter(read_text(file, text, kind))


def _sniff(text: str) -> str:
    """stdin: JSONL when the first of several non-empty lines is a whole JSON object."""
    rows = [line.strip() for line in text.splitlines() if line.strip()]
    if len(rows) > 1 and rows[0].startswith("{"):
        try:
            first = json.loads(rows[0])
        except json.JSONDecodeError:
            first = None
        if isinstance(first, dict):  # a whole object on the first line: one object per line
            return "jsonl"
    stripped = text.lstrip()
    return "json" if stripped.startswith(("{", "[")) else "yaml"


def read_text(file: str, text: str, kind: str) -> list[ModelEntry | BadEntry]:
    """Models in ``text``; ``kind`` is yaml, json, toml or jsonl."""
    if kind == "jsonl":
        return list(read_jsonl(file, text))
    parse = {"yaml": _yaml_located, "json": _json_located, "toml": _toml_located}[kind]
    located = parse(file, text)
    return list(_entries(located))


def read_jsonl(file: str, text: str) -> Iterator[ModelEntry | BadEntry]:
    """One model per non-empty line; a bad line yields a :class:`BadEntry` with its line number."""
    for number, row in enumerate(text.splitlines(), start=1):
        if not row.strip():
            continue
        try:
            try:
                data = json.loads(row)
            except json.JSONDecodeError as error:
                raise ConfigError(file, number, None, f"invalid JSON: {error.msg}") from None
            # Every key of a JSONL record is on its line: no need to walk the text for lines.
            located = _Located(file, data, {(): number})
            if not isinstance(located.data, dict):
                raise located.error((), "each line must be one JSON object (a model or flat spec)")
            yield _model_entry(located, located.data, (), key=f"line {number}")
        except ConfigError as error:
            yield BadEntry(error)


def _entries(located: _Located) -> Iterator[ModelEntry]:
    data = located.data
    if data is None:
        raise located.error((), "is empty; expected a model, a list of models or a mapping with models:")
    if isinstance(data, dict) and _is_keras_json(data):
        from rnncalc.io.keras_json import model_from_keras_json

        try:
            model = model_from_keras_json(data)
        except FieldPathError as error:
            raise located.error(error.path, error.message) from None
        yield ModelEntry(model, located.file, located.line(()))
        return
    if isinstance(data, dict) and "models" in data:
        extra = [key for key in data if key != "models"]
        if extra:
            raise located.error(
                (extra[0],), "unexpected next to models:; put it inside each model (or drop models:)"
            )
        items, base = data["models"], ("models",)  # type: Any, Path_
        if not isinstance(items, list):
            raise located.error(base, f"must be a list of models, got {_kind(items)}")
    elif isinstance(data, list):
        items, base = data, ()
    elif isinstance(data, dict):
        yield _model_entry(located, data, ())
        return
    else:
        raise located.error(
            (), f"expected a model, a list of models or a mapping with models:, got {_kind(data)}"
        )
    if not items:
        raise located.error(base, "holds no models")
    for index, item in enumerate(items):
        path = (*base, index)
        if not isinstance(item, dict):
            raise located.error(path, f"must be a model (a mapping), got {_kind(item)}")
        yield _model_entry(located, item, path)


def _is_keras_json(data: Mapping[str, Any]) -> bool:
    return "class_name" in data and "config" in data


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "a mapping", list: "a list", str: "a string", int: "an integer", float: "a number"}.get(
        type(value), type(value).__name__
    )


#: Keys a model mapping may hold besides the spec's fields.
MODEL_KEYS: tuple[str, ...] = ("name", "expect", "embedding", "layers", "dense")


#: Every key a model mapping may hold, in the order did-you-mean considers them.
_ALLOWED_KEYS: tuple[str, ...] = tuple(dict.fromkeys((*MODEL_KEYS, *SPEC_FIELDS)))
_ALLOWED_KEY_SET = frozenset(_ALLOWED_KEYS)


def _model_entry(located: _Located, data: Mapping[str, Any], path: Path_, key: str = "") -> ModelEntry:
    for field_name in data:
        if not isinstance(field_name, str) or field_name not in _ALLOWED_KEY_SET:
            raise located.error(
                (*path, field_name), f"unknown key{did_you_mean(str(field_name), _ALLOWED_KEYS)}"
            )
    name: str | None = data.get("name")
    if name is not None and not isinstance(name, str):
        raise located.error((*path, "name"), f"must be a string, got {_kind(name)}")
    expect = _expect(located, data.get("expect"), (*path, "expect"))
    try:
        model = _model(data, name)
    except FieldPathError as error:
        raise located.error((*path, *error.path), error.message) from None
    except SpecError as error:
        raise located.error((*path, error.field), error.message) from None
    expect_lines = tuple(
        (str(name), located.lines[(*path, "expect", name)])
        for name in (data.get("expect") or {})
        if (*path, "expect", name) in located.lines
    )
    return ModelEntry(model, located.file, located.line(path), expect, key or format_path(path), expect_lines)


def _model(data: Mapping[str, Any], name: str | None) -> Model:
    """A flat spec (spec fields at the top, no layers/embedding/dense) or a full model."""
    body = {key: value for key, value in data.items() if key not in ("name", "expect")}
    structured = any(key in body for key in ("layers", "embedding", "dense"))
    if not structured:
        return model_from_spec(spec_from_mapping(body), name)
    top_fields = [key for key in body if key in SPEC_FIELDS]
    layers = body.get("layers")
    if layers is None:
        # Spec fields at the top form the only recurrent block.
        layer = {key: body[key] for key in top_fields if key in LAYER_FIELDS}
        layers = [layer] if layer else []
        for key in top_fields:
            if key in FLAT_ONLY_FIELDS:
                raise FieldPathError((key,), "applies to a single flat spec only (no embedding or dense)")
    else:
        stray = [key for key in top_fields if key in LAYER_FIELDS]
        if stray:
            raise FieldPathError((stray[0],), "belongs inside each entry of layers:")
        if not isinstance(layers, list):
            raise FieldPathError(("layers",), f"must be a list of layers, got {_kind(layers)}")
    if not layers:
        raise FieldPathError(("layers",), "is required: at least one recurrent layer (cell, hidden_size)")
    dense = body.get("dense")
    if dense is not None and not isinstance(dense, list):
        dense = [dense] if isinstance(dense, dict) else dense
        if not isinstance(dense, list):
            raise FieldPathError(("dense",), f"must be a list of heads, got {_kind(dense)}")
    shape = {key: body[key] for key in MODEL_SHAPE_FIELDS if key in body}
    for key in top_fields:
        if key in FLAT_ONLY_FIELDS and "layers" in body:
            raise FieldPathError((key,), "applies to a single flat spec only (no embedding or dense)")
    return build_model(layers, body.get("embedding"), dense, name, **shape)


def _expect(located: _Located, data: Any, path: Path_) -> Expectations | None:
    """The ``expect:`` block, read by :func:`rnncalc.check.model.expectations_from_mapping`."""
    if data is None:
        return None
    from rnncalc.check.model import expectations_from_mapping

    try:
        return expectations_from_mapping(data, where="expect")
    except SpecError as error:
        # The error's field is a dotted key path below ``expect``: find its line.
        keys = tuple(error.field.split("."))[1:]
        raise located.error((*path, *keys), error.message) from None


def read_sources(sources: list[str]) -> list[ModelEntry | BadEntry]:
    """All models of all sources, in order."""
    entries: list[ModelEntry | BadEntry] = []
    for source in sources:
        entries.extend(read_source(source))
    return entries


def load_models(source: str) -> list[Model]:
    """The models of one source; raises the first :class:`ConfigError`."""
    models = []
    for entry in read_source(source):
        if isinstance(entry, BadEntry):
            raise entry.error
        models.append(entry.model)
    return models
