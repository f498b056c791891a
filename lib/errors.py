"""One error family for everything a user can cause, and the one way an exception becomes text.

Every library error derives from `ExplorerError` and carries a one-line message meant for
the user. It also derives from ValueError: each is a value (a file, a setting, a folder) the
user can change. `one_line(exc)` turns any exception into one line and never raises: an
exception with an empty message (``MemoryError()``) gives its class name.

A message is written in English with its values by name, and marked for the catalogue:
`raise StoreError(N_("no run {run_id} in {root}"), run_id=..., root=...)`. The exception is then
the English sentence (`str(exc)`: logs, tests, stored notes) and remembers its message
(`lib.i18n.Deferred`), so `one_line(exc)` gives it in the reader's language, also when it was
raised in a training worker (another process, no session: the Deferred travels in the report).
"""

from __future__ import annotations

from lib.i18n import Deferred, Joined, shown


class ExplorerError(ValueError):
    """Base of the explorer's own errors: the message is one line a user can act on.

    With values (`**params`) the message is a catalogue message (`N_("... {name} ...")`); without,
    a plain or a `Deferred` text."""

    def __init__(self, message: str = "", /, **params: object) -> None:
        super().__init__(Deferred(message, **params) if params else message)

    def __reduce__(self):  # pickled (a worker's report, Ray): rebuilt from its message, Deferred kept
        return (type(self), self.args)


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
        text = shown(message_of(exc))
    except Exception:  # a broken __str__ must not hide the original problem
        text = ""
    for line in text.splitlines():
        line = line.strip()
        if line:
            line = line if len(line) <= limit else line[: limit - 1] + "…"
            return f"{name}: {line}" if with_type else line
    return name


def message_of(exc: BaseException) -> str:
    """The exception's message as raised: its `Deferred` when it has one (a worker reports it so
    that the reader's session can show it translated), else its text."""
    if len(exc.args) == 1 and isinstance(exc.args[0], (Deferred, Joined)):
        return exc.args[0]
    return str(exc)


def portable_line(exc: BaseException) -> str:
    """`one_line(exc)` to send to another process: the `Deferred` itself when the message is one
    line (in the worker it is the English sentence; the reader's session translates it, and its
    one_line shortens the translation, not the English)."""
    message = message_of(exc)
    if isinstance(message, (Deferred, Joined)) and "\n" not in message:
        return message
    return one_line(exc)


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
