"""How tau² compares what a user says with what the DB holds: ignoring surrounding spaces, case and accents."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """The case- and accent-insensitive form of a spoken id, name or email."""
    decomposed = unicodedata.normalize("NFD", text.strip())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
