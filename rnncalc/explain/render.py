"""Render an :class:`~rnncalc.explain.model.Explanation` as plain text (80 columns) or markdown.

Knows nothing of cells or frameworks: it prints prose, equations, tables and code blocks.
The markdown is LaTeX-free (code spans, fenced blocks, GitHub tables) so it reads well in a
notebook or a pull request.
"""

from __future__ import annotations

import re
import textwrap
from enum import Enum

from rnncalc.explain.model import Code, Equations, Explanation, Prose, Section, Table

WIDTH = 80
INDENT = "  "
_CODE_SPAN = re.compile(r"(`[^`]*`)")


class ExplainFormat(str, Enum):
    TEXT = "text"
    MARKDOWN = "markdown"


def render_explanation(explanation: Explanation, fmt: ExplainFormat) -> str:
    if fmt is ExplainFormat.MARKDOWN:
        return to_markdown(explanation)
    return to_text(explanation)


# --- Plain text -------------------------------------------------------------------------------


def to_text(explanation: Explanation) -> str:
    """Headings underlined, prose wrapped at 80 columns, tables and equations indented."""
    parts = [_underline(explanation.title, "=")]
    parts.extend(_text_section(section) for section in explanation.sections)
    return "\n\n".join(parts)


def _underline(text: str, char: str) -> str:
    """The heading (wrapped at 80 columns when long) and a rule as wide as its widest line."""
    lines = textwrap.wrap(text, width=WIDTH, break_long_words=False)
    return "\n".join([*lines, char * max(len(line) for line in lines)])


def _text_section(section: Section) -> str:
    parts = [_underline(section.title, "-")]
    for block in section.blocks:
        if isinstance(block, Prose):
            parts.append(wrap(block.text))
        elif isinstance(block, Equations):
            parts.append("\n".join(INDENT * 2 + line for line in block.lines))
        elif isinstance(block, Table):
            parts.append(textwrap.indent(_tabulate(block, markdown=False), INDENT))
        else:
            parts.append(block.source.rstrip("\n"))
    return "\n\n".join(parts)


_NO_BREAK = "\x00"
#: Code spans up to this length stay on one line; longer ones may break at their spaces.
_UNBROKEN = 48


def wrap(text: str) -> str:
    """Wrap prose at 80 columns, then drop the backticks; short code spans are never broken."""
    kept = "".join(
        piece.replace(" ", _NO_BREAK) if piece.startswith("`") and len(piece) <= _UNBROKEN else piece
        for piece in _CODE_SPAN.split(text)
    )
    filled = textwrap.fill(
        _plain(kept),
        width=WIDTH,
        initial_indent=INDENT,
        subsequent_indent=INDENT,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return filled.replace(_NO_BREAK, " ")


def _plain(text: str) -> str:
    """Prose without its code markers: ``W_x`` becomes W_x."""
    return text.replace("`", "")


# --- Markdown -----------------------------------------------------------------------------------


def to_markdown(explanation: Explanation) -> str:
    parts = [f"## {explanation.title}"]
    for section in explanation.sections:
        parts.append(f"### {section.title}")
        for block in section.blocks:
            if isinstance(block, Prose):
                parts.append(markdown_inline(block.text))
            elif isinstance(block, Equations):
                parts.append("```text\n" + "\n".join(block.lines) + "\n```")
            elif isinstance(block, Table):
                parts.append(_tabulate(block, markdown=True))
            else:
                parts.append(_fence(block))
    return "\n\n".join(parts)


def _fence(block: Code) -> str:
    return f"```{block.language}\n{block.source.rstrip()}\n```"


def markdown_inline(text: str) -> str:
    """Escape markdown's emphasis and table characters outside code spans."""
    pieces = _CODE_SPAN.split(text)
    return "".join(
        piece if piece.startswith("`") else piece.replace("*", r"\*").replace("|", r"\|") for piece in pieces
    )


def _cell(value: str, column: int, table: Table, markdown: bool) -> str:
    if not markdown:
        return _plain(value)
    if not value:
        return value
    if column in table.code:
        return f"`{value}`"
    return markdown_inline(value)


def _tabulate(table: Table, markdown: bool) -> str:
    if not markdown:
        return text_table(table)
    from tabulate import tabulate

    align = ["right" if i in table.right else "left" for i in range(len(table.headers))]
    rows = [[_cell(value, i, table, markdown) for i, value in enumerate(row)] for row in table.rows]
    return str(
        tabulate(
            rows,
            headers=list(table.headers),
            tablefmt="github" if markdown else "simple",
            colalign=align,
            disable_numparse=True,
        )
    )


def text_table(table: Table) -> str:
    """A compact plain table: columns two spaces apart, dashes under the headers.

    Written here rather than with tabulate's ``simple`` format, which pads every header by two
    more characters and so pushes wide tables past 80 columns.
    """
    rows = [tuple(_plain(value) for value in row) for row in table.rows]
    widths = [max(len(cell) for cell in column) for column in zip(table.headers, *rows, strict=True)]

    def line(cells: tuple[str, ...]) -> str:
        padded = (
            cell.rjust(width) if index in table.right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(table.headers), rule, *(line(row) for row in rows)])
