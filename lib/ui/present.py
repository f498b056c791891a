"""The "Present" switch for a projector: larger type, code blocks collapsed, and each step's
main figure first. Kept in the URL (?present=1), so a reload or a shared link keeps it."""

from __future__ import annotations

import streamlit as st

from lib.i18n import _
from lib.ui import state

# Our own constant CSS (never user text): larger type for the room.
_STYLE = """
<style>
  .stApp [data-testid="stMarkdownContainer"] p, .stApp [data-testid="stMarkdownContainer"] li,
  .stApp [data-testid="stCaptionContainer"], .stApp label, .stApp [data-testid="stMetricValue"],
  .stApp [data-testid="stWidgetLabel"] p { font-size: 1.25rem !important; }
  .stApp h1 { font-size: 3rem !important; }
  .stApp h2, .stApp h3 { font-size: 2rem !important; }
  .stApp [data-testid="stMetricValue"] { font-size: 2.25rem !important; }
</style>
"""


def present_toggle_ui() -> bool:
    """The sidebar switch; its state lives in the URL as well as the session."""
    if state.PRESENT not in st.session_state:
        st.session_state[state.PRESENT] = st.query_params.get("present") == "1"
    on = st.sidebar.toggle(
        _("Present (projector)"),
        key=state.PRESENT,
        help=_("Larger type, code blocks collapsed, the main figure of each step first."),
    )
    if on:
        st.query_params["present"] = "1"
        st.html(_STYLE)
    elif "present" in st.query_params:
        del st.query_params["present"]
    return on


def presenting() -> bool:
    return bool(st.session_state.get(state.PRESENT))


def code(text: str, *, label: str | None = None, language: str = "python") -> None:
    """A code block; collapsed behind `label` ("Show code") while presenting."""
    if presenting():
        with st.expander(label or _("Show code")):
            st.code(text, language=language)
    else:
        st.code(text, language=language)
