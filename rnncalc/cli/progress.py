"""What a slow command is doing, on one status line of stderr, only when stderr is a terminal.

Importing TensorFlow takes seconds and a check of many models longer; a person at a terminal
should see that something is happening. Pipes and CI logs get nothing (their stderr is not a
terminal), and ``--quiet`` silences it anywhere. The line is redrawn in place (carriage return,
erase to end of line) and erased when the command is done, so it never mixes with results.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from types import TracebackType
from typing import Any, TextIO, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

#: Counts appear only once a batch has run this long (seconds), so quick runs never flash a
#: line; ``RNNCALC_PROGRESS_DELAY`` overrides it (0 shows every batch's count).
COUNT_DELAY = float(os.environ.get("RNNCALC_PROGRESS_DELAY", "0.3"))
#: At most this many count redraws per second.
REDRAW_INTERVAL = 0.1
ERASE_LINE = "\r\x1b[K"

quiet_option: Callable[[F], F] = click.option(
    "--quiet", "-q", is_flag=True, help="No progress line on stderr (shown only when stderr is a terminal)."
)


class Progress:
    """A status line on ``stream``; silent unless ``enabled`` (by default: a terminal)."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = bool(self.stream is not None and self.stream.isatty())
        self.enabled = enabled
        self.shown = False
        self.started = time.monotonic()
        self.drawn = 0.0

    def status(self, text: str) -> None:
        """Replace the line with ``text`` (e.g. ``importing keras...``)."""
        if not self.enabled:
            return
        self.stream.write(ERASE_LINE + text)
        self.stream.flush()
        self.shown = True
        self.drawn = time.monotonic()

    def clear(self) -> None:
        """Erase the line, e.g. before results are written to the same terminal."""
        if self.shown:
            self.stream.write(ERASE_LINE)
            self.stream.flush()
            self.shown = False

    def count(self, done: int, total: int | None = None, what: str = "models") -> None:
        """``checked 120/4000 models``, redrawn at most every :data:`REDRAW_INTERVAL` seconds
        and only after :data:`COUNT_DELAY`, always for the last one."""
        if not self.enabled:
            return
        now = time.monotonic()
        last = total is not None and done == total
        if now - self.started < COUNT_DELAY or (now - self.drawn < REDRAW_INTERVAL and not last):
            return
        self.status(f"{what} {done}/{total}" if total is not None else f"{what} {done}")

    def track(self, items: Iterable[T], what: str, total: int | None = None) -> Iterator[T]:
        """Yield ``items``, counting each one done."""
        if total is None and isinstance(items, Sized):
            total = len(items)
        for done, item in enumerate(items, start=1):
            yield item
            self.count(done, total, what)

    def importing(self, modules: Iterable[str]) -> None:
        """Import each module not yet imported, saying so first: a framework's import is the
        longest silent wait of a cross-check. Its start-up noise is kept off the terminal."""
        if not self.enabled:
            return
        from importlib import import_module

        from rnncalc.frameworks.adapter import quiet

        for name in modules:
            if name in sys.modules:
                continue
            self.status(f"importing {name}...")
            try:
                with quiet():
                    import_module(name)
            except ImportError:  # left to the command, which says how to install it
                return

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.clear()


def progress(quiet: bool) -> Progress:
    """The progress line of a command run with (or without) ``--quiet``."""
    return Progress(enabled=False) if quiet else Progress()
