"""One spelling for every name a person gave: class folders, ZIP entries, .npz class names and
labels, run names.

macOS writes file names decomposed (NFD: 고 is ᄀ + ᅩ), Linux and Windows keep what they were
given (usually composed, NFC), so one class `고양이` can reach us in two spellings that look the
same and compare, sort and hash differently. `nfc()` is the one helper every source calls before
a name is compared, shown or hashed; names that were already NFC come back unchanged, so
fingerprints and run ids made before it stay the same.
"""

from __future__ import annotations

import os
import unicodedata


def nfc(text: str | bytes | os.PathLike) -> str:
    """`text` as a name that can always be shown, encoded and compared: bytes are read as UTF-8,
    anything that is not valid UTF-8 (kept by Python as surrogates, or raw bytes) becomes U+FFFD,
    then Unicode NFC. ZIP member names (decoded by zipfile as UTF-8 or cp437) go through it too."""
    raw = os.fspath(text)
    if isinstance(raw, bytes):
        shown = raw.decode("utf-8", "replace")
    else:
        shown = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return unicodedata.normalize("NFC", shown)


def nfc_all(names: object) -> tuple[str, ...]:
    """Every name of an iterable through `nfc`, in order."""
    return tuple(nfc(str(n)) if not isinstance(n, bytes) else nfc(n) for n in names)  # type: ignore[attr-defined]


MAX_NAME = 60
NAME_PUNCTUATION = set(" -_.,:;+()'/·=%&@")


def clean_name(text: str) -> str:
    """A name people can say (runs, saved picture sets): one line of letters, digits, spaces and
    plain punctuation, at most MAX_NAME characters. Markdown's link/image/code/HTML characters
    ([ ] ! ` < > * \\ |) are dropped, so the name is safe wherever it is shown. NFC first: a name
    typed on macOS is the same name, and its accents are not dropped as punctuation."""
    kept = "".join(ch if ch.isalnum() or ch in NAME_PUNCTUATION else " " for ch in nfc(text))
    return " ".join(kept.split())[:MAX_NAME]
