"""What tests compare of ``rnncalc inspect --format json`` documents."""

from __future__ import annotations

from typing import Any


def unnamed(document: dict[str, Any]) -> dict[str, Any]:
    """The document without the file's name, at the top and in each model's ``source``: two
    copies of one file under different names give the same."""
    return {
        **document,
        "file": "",
        "models": [
            {**model, "source": {**model["source"], "file": ""}} for model in document.get("models", [])
        ],
    }
