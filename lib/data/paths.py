"""Confine user-typed paths to a data root when the app is served to others.

Set EXPLORER_DATA_ROOT (`make run HOST=0.0.0.0` sets it to sample_data/ unless DATA_ROOT
says otherwise): folder, .npz and weights-file paths typed in the app must then resolve
inside it. A path outside it, `..`, or a symlink that leads out of it is refused. Unset: any
path (a learner on their own laptop).

`guard(path)` is the one check every typed path goes through (sidebar, pages, CLI). It never
raises anything but DatasetError, and outside the root it answers the same words whether
the file exists or not, so a remote user cannot probe which server files exist.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from lib.data.dataset import DatasetError
from lib.data.names import nfc
from lib.i18n import _

# Longest path text we look at; a longer one is refused before the file system sees it.
MAX_PATH_CHARS = 4096


def data_root() -> Path | None:
    root = os.environ.get("EXPLORER_DATA_ROOT", "").strip()
    return Path(root).expanduser().resolve() if root else None


# Characters that would act instead of showing: C0/C1 controls (terminal escape sequences,
# backspace, newlines) and the bidirectional overrides that reorder what a reader sees.
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str | os.PathLike) -> str:
    """The one printable-text function: a name, path or message from a file or a user as text
    that can always be shown, encoded and printed on one line. Bytes of a name that is not
    valid UTF-8 (kept by Python as surrogates) become U+FFFD; control characters (ESC and its
    terminal sequences, newlines, tabs) and bidirectional overrides are shown as escapes
    (`\\x1b`, `\\u202e`), never acted on. The text is NFC (lib.data.names), so a class folder
    written by macOS (NFD) is the same class."""
    return _HIDDEN.sub(_escaped, nfc(text))


def printable_lines(text: str) -> str:
    """`printable` for each line of a multi-line text (a printed table): its line breaks stay."""
    return "\n".join(printable(line) for line in text.split("\n"))


def _short(text: str, limit: int = 120) -> str:
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def guard(path: str | Path, *, kind: str = "any") -> Path:
    """The resolved path a user typed, or DatasetError with one line.

    kind: "file", "folder" or "any" (exists as either). With a data root set, relative paths
    are relative to it, and a path that resolves outside it gets one refusal whatever is (or
    is not) there. NUL bytes, over-long names, symlink loops and entries that cannot be
    stat()ed are refused with a reason, never a traceback."""
    text = os.fspath(path)
    shown = _short(text)
    if not text.strip():
        raise DatasetError(_("no path given"))
    if "\x00" in text:
        raise DatasetError(_("the path contains a NUL character"))
    if len(text) > MAX_PATH_CHARS:
        raise DatasetError(_("the path is too long ({n_text:,} characters)").format(n_text=len(text)))
    root = data_root()
    try:
        resolved = Path(text).expanduser()
        if root is not None and not resolved.is_absolute():
            resolved = root / resolved  # relative paths are relative to the data root
        resolved = resolved.resolve()  # follows symlinks and '..'
    except RuntimeError:  # Python < 3.13: "Symlink loop"
        raise DatasetError(_("{shown}: a symbolic link loop").format(shown=shown)) from None
    except OSError as exc:
        raise DatasetError(_("{shown}: {reason}").format(shown=shown, reason=_os_reason(exc))) from None
    if root is not None and resolved != root and root not in resolved.parents:
        raise DatasetError(
            _("{shown} is outside the data folder this app serves ({root})").format(shown=shown, root=printable(root))
        )
    try:
        mode = resolved.stat().st_mode
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise DatasetError(_("not found: {shown}").format(shown=shown)) from None
        raise DatasetError(_("{shown}: {reason}").format(shown=shown, reason=_os_reason(exc))) from None
    if kind == "file" and not stat.S_ISREG(mode):
        raise DatasetError(_("not a file: {shown}").format(shown=shown))
    if kind == "folder" and not stat.S_ISDIR(mode):
        raise DatasetError(_("not a folder: {shown}").format(shown=shown))
    return resolved


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symbolic link loop"
    if exc.errno == errno.ENAMETOOLONG:
        return "a name in the path is too long"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or type(exc).__name__


def inside_root(path: Path) -> bool:
    """For files found inside a confined folder: does a symlink lead out of the root?"""
    root = data_root()
    if root is None:
        return True
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a loop inside the folder: treat as leaving it
        return False
    return resolved == root or root in resolved.parents
