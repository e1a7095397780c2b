"""Write a file so that it appears whole or not at all.

A writer writes to a temporary file in the destination's directory, moved into place only when
complete (``os.link`` without ``--force``, which fails rather than replace a file that appeared
meanwhile; ``os.replace`` with it): an interrupted run leaves no half file. The file gets the
mode ``open`` would give a new file (``0o666`` less the umask), not ``mkstemp``'s private
``0o600``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

from rnncalc.core.errors import SpecError


@contextlib.contextmanager
def atomic_path(destination: str, force: bool) -> Iterator[str]:
    """A temporary path beside ``destination`` to write to; moved onto it when the block ends
    without error, removed otherwise (also on KeyboardInterrupt)."""
    directory = os.path.dirname(os.path.abspath(destination))
    name = os.path.basename(destination)
    # Keep the extension: Keras refuses to save to a path that does not end in .keras.
    handle, temporary = tempfile.mkstemp(
        prefix=f".{name}.", suffix=f".partial{os.path.splitext(name)[1]}", dir=directory
    )
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())
        if force:
            os.replace(temporary, destination)
        else:
            try:
                os.link(temporary, destination)
            except FileExistsError:
                raise SpecError("-o", f"{destination} exists; pass --force to replace it") from None
            os.unlink(temporary)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _umask() -> int:
    """The process's umask (read by setting it, then setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
