"""Config text parsed with the line of every key: YAML, JSON and TOML, each bounded.

The parsers report where each key path sits (``file:line: key: message``) and refuse what
would make them hang or exhaust memory: nesting beyond MAX_DEPTH, YAML alias and merge
bombs, recursive aliases, keys that are not strings, integers longer than Python reads.
:mod:`rnncalc.io.config` turns the parsed data into models.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rnncalc.core.errors import RnncalcError
from rnncalc.core.limits import MAX_DEPTH
from rnncalc.core.model import format_path
from rnncalc.core.text import printable, shown
from rnncalc.io.lines import LineIndex

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


class Located:
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


def yaml_located(file: str, text: str) -> Located:
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
    return Located(file, data, lines)


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


def json_loads(file: str, text: str, line: int, duplicates: bool = True) -> Any:
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


def json_located(file: str, text: str, first_line: int = 1) -> Located:
    """``json.loads``; lines of keys and list items found by walking the text once."""
    data = json_loads(file, text, first_line, duplicates=False)
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
    return Located(file, data, lines)


def toml_located(file: str, text: str) -> Located:
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
    keys_only = toml_keys_only(text)
    source = keys_only.split("\n")
    line_of = LineIndex(keys_only, first_line=0).line
    line_starts = [0]
    for row in source[:-1]:
        line_starts.append(line_starts[-1] + len(row) + 1)
    lines: dict[Path_, int] = {}

    def find(key: str, start: int) -> tuple[int, int | None] | None:
        """The 0-based line of ``key`` from line ``start`` on, and the offset after its ``=``."""
        pattern = re.compile(rf"(^|[\s{{,.\[])\"?{re.escape(key)}\"?\s*(=|\]|\.)")
        for number in range(start, len(source)):
            match = pattern.search(source[number])
            if match:
                return number, line_starts[number] + match.end() if match.group(2) == "=" else None
        return None

    def walk(current: Any, path: Path_, start: int, at: int | None) -> None:
        """Place ``current``'s keys, searching from line ``start``; ``at`` is the offset of its
        value in the text when known (where an inline array's items are counted from)."""
        if len(path) > MAX_DEPTH:
            raise _too_deep(file, start + 1, path)
        if isinstance(current, dict):
            for key, item in current.items():
                found = find(str(key), start)
                if found is not None:
                    lines[(*path, key)] = found[0] + 1
                walk(item, (*path, key), found[0] if found else start, found[1] if found else None)
        elif isinstance(current, list):
            items = _toml_array_items(keys_only, at) if at is not None else []
            # An array of tables: the k-th ``[[...key]]`` header starts the k-th item.
            key = path[-1] if path else ""
            header = re.compile(rf"^\s*\[\[\s*([\w.\"-]+\.)?\"?{re.escape(str(key))}\"?\s*\]\]")
            position = start
            for index, item in enumerate(current):
                if index < len(items):  # an inline array: its items' own offsets
                    lines[(*path, index)] = line_of(items[index]) + 1
                    walk(item, (*path, index), line_of(items[index]), items[index])
                    continue
                headed = (
                    next((n for n in range(position, len(source)) if header.match(source[n])), None)
                    if isinstance(item, dict)
                    else None
                )
                if headed is not None:
                    lines[(*path, index)] = headed + 1
                    position = headed + 1
                walk(item, (*path, index), headed if headed is not None else start, None)

    walk(data, (), 0, None)
    # The model starts at its first key (a table header or key = value), after any comments.
    first = next((n for n, line in enumerate(source) if line.strip()), 0)
    lines.setdefault((), first + 1)
    return Located(file, data, lines)


#: TOML tokens that matter for telling keys from values: strings (multi-line first),
#: comments and the punctuation around them.
_TOML_TOKEN = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""|\'\'\'(?:[^\']|\'(?!\'\'))*\'\'\''
    r'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|[=\[\]{},\n]',
    re.S,
)


def _toml_array_items(keys_only: str, at: int) -> list[int]:
    """The offset of each item of the inline array whose value starts at or after ``at`` in
    :func:`toml_keys_only`'s text (strings blanked, so brackets in them do not count); empty
    when the value there is not an array."""
    opening = at
    while opening < len(keys_only) and keys_only[opening] in " \t":
        opening += 1
    if opening >= len(keys_only) or keys_only[opening] != "[":
        return []
    items: list[int] = []
    depth = 0
    expecting = True  # the next character that is not blank starts an item
    for index in range(opening + 1, len(keys_only)):
        char = keys_only[index]
        if char in " \t\r\n":
            continue
        if depth == 0 and char in ",]":
            if expecting:  # an item left blank: a string value, or nothing after a last comma
                items.append(index)
            if char == "]":
                break
            expecting = True
            continue
        if expecting:
            items.append(index)
            expecting = False
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
    return items


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
