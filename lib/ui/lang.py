"""The language switch: English or Korean, per session, kept in the URL (?lang=ko).

Without `lang` in the URL, a session starts in the browser's language (`st.context.locale`).
The choice lives in this session's state; `lib.i18n` reads it through the resolver registered
here, so `_()` anywhere (pages, lib/ui, lib) answers in the calling session's language, and a
fragment's rerun too. Widgets are identified by their keys and their options are codes, so
switching the language keeps every choice.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from lib import i18n

KEY = "lang"  # session key and the switch's widget key; also the query parameter

# Our own constant CSS (never user text): Hangul breaks only between words (Streamlit's default
# breaks a Korean word anywhere when the line is full). Every element: Streamlit's Markdown sets
# `word-break: break-word` on its own paragraphs (captions, alerts, expander labels), which would
# win over a value inherited from .stApp.
_KOREAN_STYLE = """
<style>
  .stApp, .stApp * { word-break: keep-all !important; overflow-wrap: break-word; }
</style>
"""


def _session_language() -> str | None:
    if get_script_run_ctx(suppress_warning=True) is None:  # not a session's thread (a worker, a callback)
        return None
    return st.session_state.get(KEY)


i18n.set_resolver(_session_language)


def init_language() -> str:
    """On a session's first run, before anything is drawn: the URL's language, else the browser's."""
    if KEY not in st.session_state:
        asked = st.query_params.get(KEY, "")
        st.session_state[KEY] = asked if asked in i18n.LANGUAGES else i18n.code_for(_browser_locale())
    return st.session_state[KEY]


def _browser_locale() -> str | None:
    try:
        return st.context.locale
    except Exception:  # no browser behind this session (AppTest, bare mode)
        return None


def _is_choice(value: object) -> bool:
    """A value a choice widget (radio, select, multiselect, segmented control) can hold: codes and
    numbers, or a list of them. Bools (buttons, checkboxes), uploads and selections are left alone:
    buttons and uploaders refuse a value set through session state, and none of them shows a label;
    so is an empty list (an uploader of several files holds [] before any file)."""
    scalar = (str, int, float)
    if isinstance(value, bool):
        return False
    if isinstance(value, scalar):
        return True
    return (
        isinstance(value, (list, tuple))
        and len(value) > 0
        and all(isinstance(v, scalar) and not isinstance(v, bool) for v in value)
    )


def _relabel_choices() -> None:
    """The switch's on_change: every choice set again to the value it holds.

    Streamlit keeps a radio's or a select's value in the browser as the label it shows
    (format_func's text). After a switch the labels are new, the old label matches no option, and
    the browser draws the radio with nothing checked (the server still reads the right code). A
    value set through session state is sent to the browser with the new run, as the new label.
    """
    for key in list(st.session_state):
        if key != KEY and _is_choice(value := st.session_state[key]):
            st.session_state[key] = value


def language_ui() -> str:
    """The sidebar switch. Its label is in both languages, so it can be found in either."""
    init_language()
    code = st.sidebar.selectbox(
        "Language · 언어", list(i18n.LANGUAGES), format_func=i18n.LANGUAGES.get, key=KEY, on_change=_relabel_choices
    )
    browser = i18n.code_for(_browser_locale())
    if code != browser or code != i18n.DEFAULT:  # the URL says it when the browser alone would not
        # written on every run, not only on change: a sidebar link drops the query string while
        # the server's copy still holds it (lib.ui.url_state.sync_url does the same)
        st.query_params[KEY] = code
    elif KEY in st.query_params:
        del st.query_params[KEY]
    if code == "ko":
        st.html(_KOREAN_STYLE)
    return code
