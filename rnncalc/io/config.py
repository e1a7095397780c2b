"""Config files (YAML, JSON, TOML, JSONL, Keras ``to_json()``) and stdin → models.

Every value is checked where it enters: unknown keys (with a did-you-mean), wrong types,
missing fields and values out of range raise :class:`ConfigError`, which names the file,
the line (when the parser gives one) and the key. Nothing is silently ignored. Parsing with
lines is :mod:`rnncalc.io.located`'s; reading bytes safely is :mod:`rnncalc.io.text`'s.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from rnncalc.core.errors import SpecError
from rnncalc.core.limits import DEFAULT_MAX_FILE_SIZE
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

# ConfigError and STDIN are re-exported: callers import them from this module.
from rnncalc.io.located import STDIN as STDIN
from rnncalc.io.located import ConfigError as ConfigError
from rnncalc.io.located import (
    Located,
    Path_,
    json_loads,
    json_located,
    toml_located,
    yaml_located,
)
from rnncalc.io.text import InputError, decode, iter_lines, open_regular_file, read_text_file, too_large

if TYPE_CHECKING:  # check code is imported only when a file has an expect: block
    from rnncalc.check.model import Expectations


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


# --- Reading sources -------------------------------------------------------------------------


def read_source(
    source: str, stdin_text: str | None = None, max_bytes: int = DEFAULT_MAX_FILE_SIZE
) -> list[ModelEntry | BadEntry]:
    """Every model in one source: a file path, or ``-`` for stdin (JSON, YAML or JSONL).

    A whole-file problem raises :class:`ConfigError`; in JSONL each bad line becomes a
    :class:`BadEntry` so the other lines still run.
    """
    return list(iter_source(source, stdin_text, max_bytes))


def iter_source(
    source: str, stdin_text: str | None = None, max_bytes: int = DEFAULT_MAX_FILE_SIZE
) -> Iterator[ModelEntry | BadEntry]:
    """Like :func:`read_source`, but JSONL (a ``.jsonl`` file, or stdin whose first lines are
    JSON objects) is read and parsed one line at a time as the caller asks, so a long stream
    is never held in memory; results can be written while it is still arriving.

    A document (YAML, JSON, TOML) is read whole, at most ``max_bytes`` of it, from a regular
    file only; in JSONL ``max_bytes`` bounds each line. A whole-file problem is raised before
    this returns (for stdin: once its first lines have been read).
    """
    if source == "-":
        import io
        import sys

        if stdin_text is not None:
            stream: BinaryIO = io.BytesIO(stdin_text.encode("utf-8", "surrogatepass"))
        elif sys.stdin is None or not hasattr(sys.stdin, "buffer"):
            raise ConfigError(STDIN, None, None, "stdin is closed")
        else:
            stream = sys.stdin.buffer
        return _iter_stream(stream, max_bytes)
    path = Path(source)
    suffix = path.suffix.lower()
    kinds = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml", ".jsonl": "jsonl"}
    if suffix not in kinds:
        raise ConfigError(source, None, None, "unknown file type; use .yaml, .yml, .json, .jsonl or .toml")
    try:
        if kinds[suffix] == "jsonl":
            return _iter_jsonl_file(source, max_bytes)
        text = read_text_file(source, max_bytes)
    except InputError as error:
        raise ConfigError(error.file, error.line, None, error.message) from None
    return iter(read_text(source, text, kinds[suffix]))


def _iter_jsonl_file(source: str, max_bytes: int) -> Iterator[ModelEntry | BadEntry]:
    """A JSONL file's lines, read as they are parsed (the file is opened and checked now)."""
    handle = open_regular_file(source)

    def lines() -> Iterator[bytes | None]:
        with handle:
            yield from iter_lines(handle, max_bytes, source)

    return read_jsonl(source, lines(), max_bytes)


def _iter_stream(stream: BinaryIO, max_bytes: int) -> Iterator[ModelEntry | BadEntry]:
    """stdin: JSONL, streamed, when its first non-empty line is a JSON object, or when it is not
    a document's start (``{``, ``[``) and the second non-empty line is one (so a bad first line
    is one bad record, not a bad stream); else one JSON or YAML document of at most
    ``max_bytes``."""
    head: list[bytes] = []  # raw lines, with their newlines
    rows: list[bytes] = []  # the non-empty ones, stripped
    size = 0
    while len(rows) < 2:
        raw = _read(stream.readline, max_bytes + 1)
        if not raw:
            break
        head.append(raw)
        size += len(raw)
        if size > max_bytes:
            raise ConfigError(STDIN, None, None, too_large(size, max_bytes))
        if raw.strip():
            rows.append(raw.strip())
    if rows and (
        _is_json_object(rows[0])
        or (rows[0][:1] not in (b"{", b"[") and len(rows) > 1 and _is_json_object(rows[1]))
    ):

        def lines() -> Iterator[bytes | None]:
            for raw in head:
                yield raw[:-1] if raw.endswith(b"\n") else raw
            yield from iter_lines(stream, max_bytes)

        return read_jsonl(STDIN, lines(), max_bytes)
    rest = _read(stream.read, max_bytes - size + 1)
    if size + len(rest) > max_bytes:
        raise ConfigError(STDIN, None, None, too_large(size + len(rest), max_bytes))
    try:
        text = decode(STDIN, b"".join(head) + rest)
    except InputError as error:
        raise ConfigError(STDIN, error.line, None, error.message) from None
    kind = "json" if text.lstrip()[:1] in ("{", "[") else "yaml"
    return iter(read_text(STDIN, text, kind))


def _read(read: Any, size: int) -> bytes:
    """``read(size)`` of stdin, a read error as a :class:`ConfigError`."""
    try:
        return bytes(read(size))
    except OSError as error:
        raise ConfigError(STDIN, None, None, f"cannot read: {error.strerror or error}") from None


def _is_json_object(row: bytes) -> bool:
    """True when ``row`` (one stripped line) is a whole JSON object."""
    if not row.startswith(b"{"):
        return False
    try:
        return isinstance(json.loads(row), dict)
    except (ValueError, RecursionError):
        return False


def read_text(file: str, text: str, kind: str) -> list[ModelEntry | BadEntry]:
    """Models in ``text``; ``kind`` is yaml, json, toml or jsonl."""
    if kind == "jsonl":
        return list(read_jsonl(file, (line.encode("utf-8", "surrogatepass") for line in text.split("\n"))))
    parse = {"yaml": yaml_located, "json": json_located, "toml": toml_located}[kind]
    located = parse(file, text)
    return list(_entries(located))


#: The end of a line iterator (``next(rows, _END)``).
_END: Any = object()


def read_jsonl(
    file: str, lines: Iterable[bytes | None], max_bytes: int = DEFAULT_MAX_FILE_SIZE
) -> Iterator[ModelEntry | BadEntry]:
    """One model per non-empty line; a bad line yields a :class:`BadEntry` with its line number.

    ``lines`` are the raw lines, split on ``\n`` only (``str.splitlines`` would also split on
    U+2028, U+0085 or a form feed inside a string), None for a line longer than ``max_bytes``.
    Input without a single non-empty line is one bad entry, as an empty document is.
    """
    empty = True
    number = 0
    rows = iter(lines)
    while True:
        try:
            raw = next(rows, _END)
        except InputError as error:  # the stream failed: report it, as a bad line, and stop
            yield BadEntry(ConfigError(error.file, number + 1, None, error.message))
            return
        if raw is _END:
            break
        number += 1
        if raw is not None and not raw.strip():
            continue
        empty = False
        try:
            if raw is None:
                raise ConfigError(file, number, None, f"line {too_large(max_bytes + 1, max_bytes)}")
            try:
                row = decode(file, raw, first_line=number)
            except InputError as error:
                raise ConfigError(file, error.line, None, error.message) from None
            data = json_loads(file, row, number)
            # Every key of a JSONL record is on its line: no need to walk the text for lines.
            located = Located(file, data, {(): number})
            if not isinstance(located.data, dict):
                raise located.error((), "each line must be one JSON object (a model or flat spec)")
            yield _model_entry(located, located.data, (), key=f"line {number}")
        except ConfigError as error:
            yield BadEntry(error)
    if empty:
        yield BadEntry(ConfigError(file, None, None, "is empty; expected one JSON object (a model) per line"))


def _entries(located: Located) -> Iterator[ModelEntry | BadEntry]:
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
        extra = [key for key in data if key != "models" and key not in INSPECT_KEYS]
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
        try:  # one bad model of a list is one bad entry: the others in the file still run
            if not isinstance(item, dict):
                raise located.error(path, f"must be a model (a mapping), got {_kind(item)}")
            yield _model_entry(located, item, path)
        except ConfigError as error:
            yield BadEntry(error)


def _is_keras_json(data: Mapping[str, Any]) -> bool:
    return "class_name" in data and "config" in data


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "a mapping", list: "a list", str: "a string", int: "an integer", float: "a number"}.get(
        type(value), type(value).__name__
    )


#: Keys a model mapping may hold besides the spec's fields. ``source`` is what ``rnncalc
#: inspect`` read the model from (file, format, tensors): kept for people, ignored here.
MODEL_KEYS: tuple[str, ...] = ("name", "expect", "embedding", "layers", "dense", "source")
#: Keys ``rnncalc inspect --format json`` writes beside ``models:`` (the file's facts, its
#: chains): a mapping with ``models:`` may hold them; they are ignored.
INSPECT_KEYS: tuple[str, ...] = (
    "schema_version", "file", "format", "convention", "from_config", "total_params", "tensors",
    "recurrent", "other_params", "notes", "chains", "unplaced", "unplaced_notes",
)  # fmt: skip


#: Every key a model mapping may hold, in the order did-you-mean considers them.
_ALLOWED_KEYS: tuple[str, ...] = tuple(dict.fromkeys((*MODEL_KEYS, *SPEC_FIELDS)))
_ALLOWED_KEY_SET = frozenset(_ALLOWED_KEYS)


def _model_entry(located: Located, data: Mapping[str, Any], path: Path_, key: str = "") -> ModelEntry:
    for field_name in data:
        if not isinstance(field_name, str) or field_name not in _ALLOWED_KEY_SET:
            raise located.error(
                (*path, field_name), f"unknown key{did_you_mean(str(field_name), _ALLOWED_KEYS)}"
            )
    name: str | None = data.get("name")
    if name is not None and not isinstance(name, str):
        raise located.error((*path, "name"), f"must be a string, got {_kind(name)}")
    if "source" in data and not isinstance(data["source"], dict):
        raise located.error((*path, "source"), f"must be a mapping, got {_kind(data['source'])}")
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
    body = {key: value for key, value in data.items() if key not in ("name", "expect", "source")}
    structured = any(key in body for key in ("layers", "embedding", "dense"))
    if not structured:
        return model_from_spec(spec_from_mapping(body), name)
    for key in ("embedding", "dense"):
        if key in body and body[key] is None:  # null is not "absent": say so, as for layers
            raise FieldPathError((key,), "is null: give a value, or leave the key out")
    top_fields = [key for key in body if key in SPEC_FIELDS]
    layers = body.get("layers")
    if "layers" not in body:
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


def _expect(located: Located, data: Any, path: Path_) -> Expectations | None:
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


def read_sources(
    sources: list[str], max_bytes: int = DEFAULT_MAX_FILE_SIZE
) -> Iterator[ModelEntry | BadEntry]:
    """All models of all sources, in order, read as they are asked for."""
    for source in sources:
        yield from iter_source(source, max_bytes=max_bytes)


def load_models(source: str) -> list[Model]:
    """The models of one source; raises the first :class:`ConfigError`."""
    models = []
    for entry in read_source(source):
        if isinstance(entry, BadEntry):
            raise entry.error
        models.append(entry.model)
    return models


def load_model(source: str, flag: str) -> Model:
    """The one model of ``source`` (a ``--model`` file, for the option ``flag``); raises the
    first :class:`ConfigError`, or a :class:`SpecError` naming ``flag`` when it holds several."""
    models = load_models(source)
    if len(models) != 1:
        raise SpecError(flag, f"{source} describes {len(models)} models; give a file with one")
    return models[0]
