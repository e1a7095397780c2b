"""Config files (YAML, JSON, TOML, JSONL, Keras ``to_json()``) and stdin → models.

Every value is checked where it enters: unknown keys (with a did-you-mean), wrong types,
missing fields and values out of range raise :class:`ConfigError`, which names the file,
the line (when the parser gives one) and the key. Nothing is silently ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from rnncalc.core.errors import RnncalcError, SpecError
from rnncalc.core.limits import DEFAULT_MAX_FILE_SIZE, MAX_DEPTH
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
from rnncalc.core.text import printable, shown
from rnncalc.io.lines import LineIndex
from rnncalc.io.text import InputError, decode, iter_lines, open_regular_file, read_text_file, too_large

if TYPE_CHECKING:  # check code is imported only when a file has an expect: block
    from rnncalc.check.model import Expectations

Path_ = tuple[str | int, ...]
#: Where ``-`` reads from in messages.
STDIN = "<stdin>"


class ConfigError(RnncalcError, ValueError):
    """A bad config: ``file:line: key: message`` (line and key when known), on one line."""

    def __init__(self, file: str, line: int | None, key: str | None, message: str) -> None:
        where = f"{file}:{line}" if line is not None else file
        if key is not None and len(key) > _MAX_KEY_SHOWN:
            key = key[:_MAX_KEY_SHOWN] + "..."
        super().__init__(printable(f"{where}: {key}: {message}" if key else f"{where}: {message}"))
        self.file = file
        self.line = line
        self.key = key
        self.message = message


#: Characters of a key path shown in a message (a key may be as long as the file).
_MAX_KEY_SHOWN = 200


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


def _too_deep(file: str, line: int | None, path: Path_) -> ConfigError:
    return ConfigError(
        file, line, format_path(path[:3]) + "..." if path else None, f"nests deeper than {MAX_DEPTH} levels"
    )


def _yaml_loader() -> type[Any]:
    """The C loader when PyYAML has libyaml (10x faster, nesting bounded by libyaml), else the
    pure-Python one; either way with YAML 1.2 numbers: YAML 1.1 reads ``1:30`` as 90 (base 60)
    and ``010`` as 8 (octal), which here stay strings and so are reported, not misread."""
    global _LOADER
    if _LOADER is None:
        import yaml

        base = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader
        resolvers = {
            first: [(tag, pattern) for tag, pattern in entries if tag not in (_INT_TAG, _FLOAT_TAG)]
            for first, entries in base.yaml_implicit_resolvers.items()
        }
        loader: Any = type("StrictYamlLoader", (base,), {"yaml_implicit_resolvers": resolvers})
        loader.add_implicit_resolver(_INT_TAG, re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789"))
        loader.add_implicit_resolver(
            _FLOAT_TAG,
            re.compile(
                r"^[-+]?(?:[0-9][0-9_]*)?\.[0-9_]+(?:[eE][-+]?[0-9]+)?$|^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"
            ),
            list("-+0123456789."),
        )
        _LOADER = loader
    return _LOADER


_LOADER: type[Any] | None = None
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _yaml_located(file: str, text: str) -> _Located:
    """``yaml.safe_load`` semantics (YAML 1.2 numbers); lines from the node tree's start marks.

    The node tree is walked once per node, not once per alias, so an alias bomb (nine levels
    of ten aliases: 10**9 paths in 380 bytes) costs what its text costs; a recursive alias
    (``&a [*a]``), a key that is not a string and nesting beyond MAX_DEPTH are errors.
    """
    import yaml

    try:
        loader = _yaml_loader()(text)
        try:
            node = loader.get_single_node()
            lines = _yaml_lines(file, node) if node is not None else {}
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(file, line, None, f"invalid YAML: {problem}") from None
    except RecursionError:  # the pure-Python composer recurses per nesting level
        raise _too_deep(file, None, ()) from None
    except ConfigError:
        raise
    except ValueError as error:  # e.g. an integer of more digits than Python reads
        raise ConfigError(file, None, None, f"invalid YAML: {error}") from None
    return _Located(file, data, lines)


def _yaml_lines(file: str, root: Any) -> dict[Path_, int]:
    import yaml

    lines: dict[Path_, int] = {(): root.start_mark.line + 1}
    done: set[int] = set()  # nodes walked (an alias is the same node object again)
    merged: dict[int, int] = {}  # keys a mapping holds once its merge keys are expanded
    open_nodes: set[int] = set()  # nodes on the current path: meeting one again is a cycle

    def walk(current: Any, path: Path_) -> None:
        if id(current) in open_nodes:
            raise ConfigError(
                file,
                current.start_mark.line + 1,
                format_path(path) or None,
                "recursive alias (contains itself)",
            )
        if id(current) in done or not isinstance(current, yaml.CollectionNode):
            return
        if len(path) > MAX_DEPTH:
            raise _too_deep(file, current.start_mark.line + 1, path)
        done.add(id(current))
        open_nodes.add(id(current))
        if isinstance(current, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in current.value:
                line = key_node.start_mark.line + 1
                if key_node.tag == _MERGE_TAG:  # ``<<: *defaults``: the merged keys belong here
                    if _merged_size(value_node, merged) > MAX_MERGED_KEYS:
                        raise ConfigError(
                            file,
                            line,
                            format_path(path) or None,
                            f"merges more than {MAX_MERGED_KEYS:,} keys",
                        )
                    walk(value_node, path)
                    continue
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
                    text = key_node.value if isinstance(key_node, yaml.ScalarNode) else "(a collection)"
                    raise ConfigError(
                        file, line, format_path(path) or None, f"key {shown(text)} is not a string; quote it"
                    )
                key = key_node.value
                if key in seen:  # safe_load would silently keep the last value
                    raise ConfigError(file, line, format_path((*path, key)), "duplicate key")
                seen.add(key)
                lines.setdefault((*path, key), line)
                walk(value_node, (*path, key))
        else:
            for index, item in enumerate(current.value):
                lines.setdefault((*path, index), item.start_mark.line + 1)
                walk(item, (*path, index))
        open_nodes.discard(id(current))

    walk(root, ())
    return lines


def _merged_size(node: Any, sizes: dict[int, int]) -> int:
    """Keys ``node`` holds once every ``<<`` merge in it is expanded, each node counted once.

    PyYAML's constructor copies merged keys node by node, so nine levels of ``<<: [*a, *a,
    ...]`` would copy 10**9 pairs: the count, memoized, is taken before it constructs anything.
    """
    import yaml

    if id(node) in sizes:
        return sizes[id(node)]
    sizes[id(node)] = MAX_MERGED_KEYS + 1  # a node met again while being counted: a cycle
    if isinstance(node, yaml.SequenceNode):
        size = sum(_merged_size(item, sizes) for item in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = sum(_merged_size(value, sizes) if key.tag == _MERGE_TAG else 1 for key, value in node.value)
    else:
        size = 1
    sizes[id(node)] = size
    return size


#: Keys one YAML mapping may hold once its ``<<`` merge keys are expanded.
MAX_MERGED_KEYS = 10_000


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` refusing a duplicate key (``json.loads`` keeps the last silently)."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        key = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise _DuplicateKey(key)
    return result


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _json_loads(file: str, text: str, line: int, duplicates: bool = True) -> Any:
    """``json.loads`` with nesting, over-long numbers and (with ``duplicates``) a duplicate key
    as :class:`ConfigError`; a document's walk finds its duplicates, with their lines."""
    try:
        return json.loads(text, object_pairs_hook=_json_object if duplicates else None)
    except json.JSONDecodeError as error:
        raise ConfigError(file, error.lineno + line - 1, None, f"invalid JSON: {error.msg}") from None
    except _DuplicateKey as error:
        raise ConfigError(file, line, error.key, "duplicate key") from None
    except RecursionError:
        raise _too_deep(file, line, ()) from None
    except ValueError as error:  # an integer of more digits than Python reads
        raise ConfigError(file, line, None, f"invalid JSON: {error}") from None


_WHITESPACE = re.compile(r"[ \t\r\n]*")


def _json_located(file: str, text: str, first_line: int = 1) -> _Located:
    """``json.loads``; lines of keys and list items found by walking the text once."""
    data = _json_loads(file, text, first_line, duplicates=False)
    lines: dict[Path_, int] = {}
    index_of = LineIndex(text, first_line)
    decoder = json.JSONDecoder()
    from json.decoder import scanstring  # type: ignore[attr-defined]

    def skip(index: int) -> int:
        match = _WHITESPACE.match(text, index)
        return match.end() if match else index

    def value(index: int, path: Path_) -> int:
        index = skip(index)
        if len(path) > MAX_DEPTH:
            raise _too_deep(file, index_of.line(index), path)
        lines.setdefault(path, index_of.line(index))
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
                    raise ConfigError(file, index_of.line(index), format_path((*path, key)), "duplicate key")
                seen.add(key)
                lines[(*path, key)] = index_of.line(index)
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
    """``tomllib``; a key's line is found by scanning for ``key =`` or its table header, in the
    text with every string value and comment blanked (so ``name = "foo = 1"`` is not ``foo``)."""
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
    except RecursionError:
        raise _too_deep(file, None, ()) from None
    except ValueError as error:  # an integer of more digits than Python reads
        raise ConfigError(file, None, None, f"invalid TOML: {error}") from None
    source = toml_keys_only(text).split("\n")
    lines: dict[Path_, int] = {}

    def find(key: str, start: int) -> int | None:
        pattern = re.compile(rf"(^|[\s{{,.\[])\"?{re.escape(key)}\"?\s*(=|\]|\.)")
        for number in range(start, len(source)):
            if pattern.search(source[number]):
                return number
        return None

    def walk(current: Any, path: Path_, start: int) -> None:
        if len(path) > MAX_DEPTH:
            raise _too_deep(file, start + 1, path)
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
    first = next((n for n, line in enumerate(source) if line.strip()), 0)
    lines.setdefault((), first + 1)
    return _Located(file, data, lines)


#: TOML tokens that matter for telling keys from values: strings (multi-line first),
#: comments and the punctuation around them.
_TOML_TOKEN = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""|\'\'\'(?:[^\']|\'(?!\'\'))*\'\'\''
    r'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|[=\[\]{},\n]',
    re.S,
)


def toml_keys_only(text: str) -> str:
    """``text`` with comments and string *values* replaced by spaces (newlines kept), so that
    searching it for a key finds keys only. Quoted keys stay."""
    out: list[str] = []
    last = 0
    previous = "\n"  # the last punctuation token: "=" or "," or "[" ... or a newline
    stack: list[str] = []  # "array" (a value), "table" (a header) or "inline" ({...})
    for match in _TOML_TOKEN.finditer(text):
        token = match.group(0)
        out.append(text[last : match.start()])
        last = match.end()
        first = token[0]
        if first in "\"'" or first == "#":
            in_value = first == "#" or previous == "=" or (stack and stack[-1] == "array")
            out.append(re.sub(r"[^\n]", " ", token) if in_value else token)
            continue
        out.append(token)
        if first == "[":
            stack.append("array" if previous == "=" or (stack and stack[-1] == "array") else "table")
        elif first == "{":
            stack.append("inline")
        elif first in "]}" and stack:
            stack.pop()
        previous = first if first != "\n" or not stack else previous
    out.append(text[last:])
    return "".join(out)


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
        try:
            return _iter_stream(stream, max_bytes)
        except InputError as error:
            raise ConfigError(error.file, error.line, None, error.message) from None
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
    parse = {"yaml": _yaml_located, "json": _json_located, "toml": _toml_located}[kind]
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
            data = _json_loads(file, row, number)
            # Every key of a JSONL record is on its line: no need to walk the text for lines.
            located = _Located(file, data, {(): number})
            if not isinstance(located.data, dict):
                raise located.error((), "each line must be one JSON object (a model or flat spec)")
            yield _model_entry(located, located.data, (), key=f"line {number}")
        except ConfigError as error:
            yield BadEntry(error)
    if empty:
        yield BadEntry(ConfigError(file, None, None, "is empty; expected one JSON object (a model) per line"))


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
