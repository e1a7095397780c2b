"""Character offset → line number, from offsets computed once per text.

Counting newlines from the start of the text for every key made a 32,000-model JSON file
quadratic (over a minute); one pass to find the newlines and a binary search per lookup
keeps it linear.
"""

from __future__ import annotations

import bisect


class LineIndex:
    """1-based line numbers of character offsets in ``text`` (only ``\\n`` ends a line)."""

    __slots__ = ("_first", "_starts")

    def __init__(self, text: str, first_line: int = 1) -> None:
        starts = [0]
        find = text.find
        position = find("\n")
        while position != -1:
            starts.append(position + 1)
            position = find("\n", position + 1)
        self._starts = starts
        self._first = first_line

    def line(self, offset: int) -> int:
        """The line holding the character at ``offset``."""
        return bisect.bisect_right(self._starts, offset) - 1 + self._first
