"""Untrusted text made safe to show: control characters escaped, long values shortened.

Names, keys, file names and values come from files and flags. Written raw, a newline in a
model name forges an extra result line, an ESC sequence repaints the terminal and a value
built from YAML aliases can be billions of items long; so every text output passes them
through :func:`printable` (one line, no control characters) or :func:`shown` (a bounded repr).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import reprlib

#: Characters that move the cursor, end a line or reorder text: C0 and C1 controls, DEL,
#: the Unicode line and paragraph separators and the bidirectional overrides (Trojan Source).
_UNSAFE = frozenset(
    [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` on one line with every unsafe character written as an escape (``\\n``, ``\\x1b``)."""
    if text.isprintable() and text.isascii():
        return text
    out = []
    for char in text:
        code = ord(char)
        if code in _UNSAFE or 0xD800 <= code <= 0xDFFF:  # a lone surrogate: undecodable argv bytes
            out.append(_NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"))
        else:
            out.append(char)
    return "".join(out)


_REPR: reprlib.Repr | None = None
#: Characters of a value shown in a message.
_MAX_SHOWN = 120


def shown(value: Any) -> str:
    """``repr(value)`` bounded in length and depth (safe for recursive or alias-built values)."""
    global _REPR
    if isinstance(value, (bool, type(None))) or (isinstance(value, str) and len(value) <= 60):
        return printable(repr(value))
    if _REPR is None:  # only an error message needs it: not imported on the path of valid input
        import reprlib

        _REPR = reprlib.Repr()
        _REPR.maxlevel = 2
        _REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4
        _REPR.maxstring = _REPR.maxother = 60
        _REPR.maxlong = 40
    try:
        text = printable(_REPR.repr(value))
        return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."
    except ValueError:  # an integer longer than Python converts to text (4300 digits)
        return "an integer of thousands of digits"
