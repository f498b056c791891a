"""Names people can say (runs, saved picture sets): one rule for what a typed name keeps."""

from __future__ import annotations

import unicodedata

MAX_NAME = 60


NAME_PUNCTUATION = set(" -_.,:;+()'/·=%&@")


def clean_name(text: str) -> str:
    """A name people can say: one line of letters, digits, spaces and plain punctuation,
    at most MAX_NAME characters, NFC (macOS types Korean as NFD). Markdown's
    link/image/code/HTML characters ([ ] ! ` < > * \\ |) are dropped, so the name is safe
    wherever it is shown."""
    text = unicodedata.normalize("NFC", text)
    kept = "".join(ch if ch.isalnum() or ch in NAME_PUNCTUATION else " " for ch in text)
    return " ".join(kept.split())[:MAX_NAME]
