"""A weight-file format as the registry declares it: its name, suffixes, how to recognise it and
its reader.

Each :class:`~rnncalc.core.convention.Convention` lists the formats whose tensors follow its
names (:meth:`~rnncalc.core.convention.Convention.weight_formats`); :mod:`rnncalc.inspect.formats`
picks one by suffix, else by the file's first bytes. The readers themselves live in
:mod:`rnncalc.io`, one module per format.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass

from rnncalc.io.tensors import FileContents, WeightFileError


@dataclass(frozen=True)
class WeightFormat:
    """One format: ``name`` is :attr:`FileContents.format` and the JSON ``format``, ``title``
    how a heading names it. ``magic`` is the first bytes every such file starts with (empty when
    none); ``sniff(path, head)`` decides among files sharing a magic, or recognises a format that
    has none from its first 8 bytes (None: recognised by ``magic`` alone, or only by suffix when
    it has no magic either). ``holds(path)`` recognises a directory of this format by what it
    contains (an Orbax checkpoint's ``_METADATA``); None: the format is a single file."""

    name: str
    title: str
    suffixes: tuple[str, ...]
    read: Callable[[str], FileContents]
    magic: bytes = b""
    sniff: Callable[[str, bytes], bool] | None = None
    holds: Callable[[str], bool] | None = None

    @property
    def recognisable(self) -> bool:
        """True when a file of this format can be told by its bytes, whatever its name."""
        return bool(self.magic) or self.sniff is not None


#: First bytes of a zip archive (PKWARE APPNOTE.TXT, 4.3.7: local file header signature).
ZIP_MAGIC = b"PK\x03\x04"


def zip_members(path: str) -> set[str]:
    """The member names of the zip archive at ``path``."""
    try:
        with zipfile.ZipFile(path) as archive:
            return set(archive.namelist())
    except zipfile.BadZipFile as error:
        raise WeightFileError(path, f"not a readable zip archive: {error}") from None
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
