"""The explorer's message catalogue: gettext `.po` files read through Babel, one language per
session.

Streamlit sessions are threads of one process, so nothing here is process-wide: no
`gettext.install()`, no global "current language". `_()` asks, in this order: a language set
for this thread or task (`using()`, the CLI's `--lang`/`LANG`), then the resolver the app
registered (it reads the language from the calling session's own state), else English.

Marking a string: `_("Load folder")`, with placeholders by name so a translation may reorder
them: `_("Loaded {name}: {count} images").format(name=..., count=...)`. A string defined before
the language is known (a table row) is marked with `N_()` and translated where it is shown.
`make messages` extracts every marked string into `lib/locale/messages.pot` and merges it into
each language's `.po`; the `.po` is compiled into gettext's binary form in memory when a
language is first used, so no compiled file is kept in the repository.
"""

from __future__ import annotations

import contextlib
import functools
import gettext as _gettext
import io
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
DEFAULT = "en"  # the language the strings are written in
LANGUAGES: dict[str, str] = {"en": "English", "ko": "한국어"}  # code -> its own name

_chosen: ContextVar[str | None] = ContextVar("explorer_language", default=None)
_resolver: Callable[[], str | None] | None = None


def code_for(text: str | None) -> str:
    """A language code we have for a locale or language tag ("ko", "ko-KR", "ko_KR.UTF-8");
    anything else is English."""
    if not text:
        return DEFAULT
    base = text.replace("-", "_").split(".")[0].split("@")[0].split("_")[0].strip().lower()
    return base if base in LANGUAGES else DEFAULT


def from_environment(env: Mapping[str, str] | None = None) -> str:
    """The language POSIX locale variables ask for: LC_ALL, then LC_MESSAGES, then LANG."""
    env = os.environ if env is None else env
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if env.get(var):
            return code_for(env[var])
    return DEFAULT


def set_resolver(resolver: Callable[[], str | None] | None) -> None:
    """How `language()` finds the caller's language when none was set for its thread: the app
    registers one that reads the calling session's state (so it is per session, not global)."""
    global _resolver
    _resolver = resolver


def set_language(code: str) -> None:
    """This thread's language from now on (the CLI, once, in its main thread)."""
    _chosen.set(code_for(code))


@contextlib.contextmanager
def using(code: str) -> Iterator[None]:
    """Inside the block, this thread's messages are in `code`."""
    token = _chosen.set(code_for(code))
    try:
        yield
    finally:
        _chosen.reset(token)


def language() -> str:
    chosen = _chosen.get()
    if chosen:
        return chosen
    if _resolver is not None:
        found = _resolver()
        if found in LANGUAGES:
            return found
    return DEFAULT


def po_path(code: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.lru_cache(maxsize=len(LANGUAGES))
def _compiled(code: str) -> _gettext.NullTranslations:
    if code == DEFAULT or not po_path(code).is_file():
        return _gettext.NullTranslations()
    from babel.messages.mofile import write_mo  # only when a translation is first needed
    from babel.messages.pofile import read_po

    with po_path(code).open("rb") as fh:
        catalog = read_po(fh, locale=code, domain=DOMAIN)
    mo = io.BytesIO()
    write_mo(mo, catalog, use_fuzzy=False)  # a fuzzy (unchecked) entry stays English
    mo.seek(0)
    return _gettext.GNUTranslations(mo)


def translations(code: str) -> _gettext.NullTranslations:
    """The compiled catalogue of one language (compiled once per process, then shared: it is
    read-only)."""
    return _compiled(code_for(code))  # lru_cache is thread-safe; a rare double compile is harmless


def gettext(message: str) -> str:
    return translations(language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(language()).ngettext(singular, plural, n)


class Deferred(str):
    """English text that remembers its message and values, for a sentence made before anyone's
    language is known (a data set's notes: loaded once, cached for every session, stored in runs).
    As a string it is the English sentence (stored, compared, hashed, printed as before);
    `shown(text)` gives it in the calling session's language. Mark the message with `N_()`:
    `Deferred(N_("{n} hidden file(s) were ignored"), n=3)`."""

    msgid: str
    params: dict

    def __new__(cls, msgid: str, **params: object) -> Deferred:
        text = super().__new__(cls, msgid.format(**params))
        text.msgid, text.params = msgid, params
        return text

    def __reduce__(self):  # pickled by st.cache_data: rebuilt from its message, not from the English text
        return (_deferred, (self.msgid, self.params))


def _deferred(msgid: str, params: dict) -> Deferred:
    return Deferred(msgid, **params)


class Joined(str):
    """Deferred texts joined by a separator ("; "): English as a string, `shown()` joins their translations."""

    parts: tuple[str, ...]
    separator: str

    def __new__(cls, separator: str, parts: Iterable[str]) -> Joined:
        parts = tuple(parts)
        text = super().__new__(cls, separator.join(parts))
        text.parts, text.separator = parts, separator
        return text

    def __reduce__(self):
        return (Joined, (self.separator, self.parts))


def shown(text: str) -> str:
    """`text` in the calling session's language when it is a `Deferred` (or `Joined`), else as it is
    (a note read back from a stored JSON file is plain English)."""
    if isinstance(text, Deferred):  # a value may be a Deferred itself (an error that wraps another's)
        return gettext(text.msgid).format(**{k: shown(v) if isinstance(v, str) else v for k, v in text.params.items()})
    if isinstance(text, Joined):
        return text.separator.join(shown(p) for p in text.parts)
    return text


def N_(message: str) -> str:
    """Marks a string for the catalogue without translating it here (it is translated where shown)."""
    return message


_ = gettext
