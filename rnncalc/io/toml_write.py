"""A TOML document from plain data (mappings, lists, strings, numbers, booleans), for the config
files ``rnncalc inspect --format toml`` writes; the standard library reads TOML, never writes it.

A list of mappings at the top becomes an array of tables (``[[models]]``), a mapping in one of
them a sub-table (``[models.source]``); the mappings and lists inside are written as inline
tables and multi-line arrays. None values are left out (TOML
has no null), as config files leave out a key that is not set.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def toml_dumps(data: Mapping[str, Any]) -> str:
    """``data`` as a TOML document."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
            tables += [(key, item) for item in value]
        elif value is not None:
            lines.append(f"{_key(key)} = {_value(value, 0)}")
    for key, table in tables:
        lines += ["", f"[[{_key(key)}]]"]
        inner = [(name, value) for name, value in table.items() if isinstance(value, Mapping)]
        lines += [
            f"{_key(name)} = {_value(value, 0)}"
            for name, value in table.items()
            if value is not None and not isinstance(value, Mapping)
        ]
        for name, value in inner:  # a sub-table of this array's last table: [models.source]
            lines += ["", f"[{_key(key)}.{_key(name)}]"]
            lines += [f"{_key(k)} = {_value(v, 0)}" for k, v in value.items() if v is not None]
    return "\n".join(lines).lstrip("\n")


def _key(key: str) -> str:
    return key if _BARE.fullmatch(key) else json.dumps(key)


def _value(value: Any, depth: int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return ("-" if value < 0 else "") + ("nan" if math.isnan(value) else "inf")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        items = ", ".join(f"{_key(k)} = {_value(v, depth + 1)}" for k, v in value.items() if v is not None)
        return "{" + items + "}" if items else "{}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        if depth or all(not isinstance(item, (Mapping, list, tuple)) for item in value):
            return "[" + ", ".join(_value(item, depth + 1) for item in value) + "]"
        return "[\n" + "".join(f"  {_value(item, depth + 1)},\n" for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
