"""Indented JSON text for documents, written without importing :mod:`json`.

``rnncalc summary --format json`` must start about as fast as ``import click``; the ``json``
package costs 1 ms of that budget (its decoder compiles regular expressions at import), and
with ``indent`` set it encodes in pure Python anyway. :func:`dumps` gives exactly the text of
``json.dumps(document, indent=2)`` (``tests/test_jsontext.py`` holds it to that) for the
values documents are made of: dicts with string keys, lists and tuples, strings, integers,
finite floats, booleans and ``None``. Strings other than printable ASCII are escaped by
json's own escaper, imported only when one occurs.
"""

from __future__ import annotations

import math
from typing import Any

INDENT = "  "


def _quote(text: str) -> str:
    """``text`` as a JSON string; printable ASCII needs no escapes but for ``"`` and ``\\``."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return '"' + text + '"'
    # Anything else, as json escapes it. Imported here: _json is a shared library to load
    # (0.2 ms), and the names and messages of documents are plain ASCII.
    from json.encoder import encode_basestring_ascii

    return encode_basestring_ascii(text)


def dumps(document: Any) -> str:
    """``document`` as JSON with a two-space indent, ASCII-only, keys in insertion order."""
    parts: list[str] = []
    _write(document, parts, "\n")
    return "".join(parts)


def _write(value: Any, parts: list[str], newline: str) -> None:
    """Append ``value``'s text to ``parts``; ``newline`` is a line break and this level's indent."""
    if isinstance(value, str):
        parts.append(_quote(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        parts.append(int.__repr__(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"JSON has no value for {value!r}")
        parts.append(float.__repr__(value))
    elif isinstance(value, dict):
        _write_object(value, parts, newline)
    elif isinstance(value, list | tuple):
        _write_array(value, parts, newline)
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _write_object(mapping: dict[Any, Any], parts: list[str], newline: str) -> None:
    if not mapping:
        parts.append("{}")
        return
    inner = newline + INDENT
    separator = "{" + inner
    for key, item in mapping.items():
        if not isinstance(key, str):
            raise TypeError(f"keys must be strings, not {type(key).__name__}")
        parts.append(separator)
        parts.append(_quote(key))
        parts.append(": ")
        _write(item, parts, inner)
        separator = "," + inner
    parts.append(newline + "}")


def _write_array(items: list[Any] | tuple[Any, ...], parts: list[str], newline: str) -> None:
    if not items:
        parts.append("[]")
        return
    inner = newline + INDENT
    separator = "[" + inner
    for item in items:
        parts.append(separator)
        _write(item, parts, inner)
        separator = "," + inner
    parts.append(newline + "]")
