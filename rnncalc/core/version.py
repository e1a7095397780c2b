"""rnncalc's version: here, at the ground, so that the CLI's ``--version`` reads it without
importing the public API above it (:mod:`rnncalc` re-exports it)."""

__version__ = "0.1.0"
