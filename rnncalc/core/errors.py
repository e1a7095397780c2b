"""Domain exceptions. The CLI maps them to one-line messages and exit status 2."""

from __future__ import annotations


class RnncalcError(Exception):
    """Base class for every error rnncalc reports to a user."""


class SpecError(RnncalcError, ValueError):
    """A model description is invalid; ``field`` names the offending spec field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class FrameworkMissingError(RnncalcError):
    """A framework needed by a command is not installed."""


#: How to install each optional package that rnncalc imports outside a framework's adapter
#: (numpy holds every tensor's values: verify, convert, the readers of tensor data); the CLI
#: turns a failed import of one into this line.
INSTALL_HINTS: dict[str, str] = {"numpy": "pip install 'rnncalc[numpy]'"}


class ConversionError(RnncalcError):
    """Weights cannot be moved into a framework's layout (a value it has no place for)."""
