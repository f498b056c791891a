"""One error family for everything a user can cause, and the one way an exception becomes text.

Every library error derives from `ExplorerError` and carries a one-line message meant for
the user. It also derives from ValueError: each is a value (a file, a setting, a folder) the
user can change. `one_line(exc)` turns any exception into one line and never raises: an
exception with an empty message (``MemoryError()``) gives its class name.
"""

from __future__ import annotations


class ExplorerError(ValueError):
    """Base of the explorer's own errors: the message is one line a user can act on."""


class SettingsError(ExplorerError):
    """Training or augmentation settings that cannot be used."""


class DatasetError(ExplorerError):
    """A dataset that cannot be loaded or used as asked."""


class StoreError(ExplorerError):
    """A run folder that cannot be read or written."""


class TransferError(ExplorerError):
    """A backbone that cannot be built as asked."""


class ModelFileError(ExplorerError):
    """An uploaded model that cannot be used."""


class ExportError(ExplorerError):
    """A stored run that cannot be exported (to LiteRT) as asked."""


class ImageError(ExplorerError):
    """A picture to classify (upload, camera, file) that cannot be used."""


def one_line(exc: BaseException, limit: int = 200, *, with_type: bool = False) -> str:
    """The first non-empty line of the exception's message (at most `limit` characters),
    or its class name when the message is empty; `with_type` puts the class name first
    ("MemoryError: ..."), for errors that are not our own. Never raises."""
    name = type(exc).__name__
    try:
        text = str(exc)
    except Exception:  # a broken __str__ must not hide the original problem
        text = ""
    for line in text.splitlines():
        line = line.strip()
        if line:
            line = line if len(line) <= limit else line[: limit - 1] + "…"
            return f"{name}: {line}" if with_type else line
    return name


def os_reason(exc: BaseException) -> str:
    """Why a file operation failed, in the operating system's words ("No space left on
    device"). `shutil.copytree` gathers its failures into one `shutil.Error` whose message is
    a Python list of (source, destination, reason) tuples; the reason is taken out of it.
    Other exceptions are searched for the OSError that caused them. Never raises."""
    import re
    import shutil

    seen: BaseException | None = exc
    for _ in range(10):  # a cause chain, never a cycle
        if seen is None:
            break
        if isinstance(seen, shutil.Error) and seen.args and isinstance(seen.args[0], list) and seen.args[0]:
            last = seen.args[0][-1]
            why = str(last[-1]) if isinstance(last, tuple) else str(last)
            match = re.match(r"\[Errno \d+\] ([^:]+)", why)
            return match.group(1) if match else one_line(Exception(why), 120)
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    return one_line(exc, 160)
