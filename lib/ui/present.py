"""The "Present" switch for a projector: larger type, code blocks collapsed, and each step's
main figure first. Kept in the URL (?present=1), so a reload or a shared link keeps it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from lib import charts
from lib.i18n import _
from lib.ui import state
from lib.ui.table_labels import column_labels
from lib.ui.text import md

# Our own constant CSS (never user text): larger type for the room, and nothing cut at 1024x768
# with the sidebar open (about 650 px of page): columns wrap before their labels would be cut,
# tabs wrap instead of hiding behind a scroll arrow, button labels wrap at spaces.
_STYLE = """
<style>
  .stApp [data-testid="stMarkdownContainer"] p, .stApp [data-testid="stMarkdownContainer"] li,
  .stApp [data-testid="stCaptionContainer"], .stApp label,
  .stApp [data-testid="stWidgetLabel"] p { font-size: 1.25rem !important; }
  .stApp h1 { font-size: 3rem !important; }
  .stApp h2, .stApp h3 { font-size: 2rem !important; }
  /* a headline number stays larger than its label (the paragraph rule above would shrink it) */
  .stApp [data-testid="stMetricValue"], .stApp [data-testid="stMetricValue"] [data-testid="stMarkdownContainer"] p {
    font-size: 2.25rem !important; line-height: 1.25 !important; }
  .stApp [data-testid="stMetricLabel"] [data-testid="stMarkdownContainer"] p { font-size: 1.1rem !important; }
  .stApp [data-testid="stHorizontalBlock"] { flex-wrap: wrap !important; }
  .stApp [data-testid="stColumn"] { min-width: min(100%, 9.5rem) !important; }
  .stApp [role="tablist"] { flex-wrap: wrap !important; overflow-x: visible !important; row-gap: 0.25rem; }
  .stApp button p, .stApp button div { white-space: normal !important; text-overflow: clip !important; }
  .stApp [data-testid="stImageCaption"] { word-break: normal !important; overflow-wrap: normal !important; }
  /* tables are HTML while presenting (present.dataframe): their text at the room's size */
  .stApp [data-testid="stTable"] th, .stApp [data-testid="stTable"] td { font-size: 1.25rem !important; }
  /* an image grid keeps one row per image, every picture the same size (a wrapped row grew) */
  .stApp [class*="st-key-image_grid_"] [data-testid="stHorizontalBlock"] { flex-wrap: nowrap !important; }
  .stApp [class*="st-key-image_grid_"] [data-testid="stColumn"] { min-width: 0 !important; }
  /* code wraps instead of running off the page: the traps' lines are their lesson */
  .stApp [data-testid="stCode"] pre, .stApp [data-testid="stCode"] code {
    white-space: pre-wrap !important; overflow-wrap: anywhere !important; }
</style>
"""

# Always on, presenting or not: an element's toolbar (fullscreen, download, ...) shows 16 px above
# the element on hover or after a click, and a chart first in a tab covered the tab labels above it.
# The first block of a tab panel that has such a toolbar moves down by the toolbar's overlap.
_BASE_STYLE = """
<style>
  .stApp [data-testid="stTabs"] [role="tabpanel"] > [data-testid="stVerticalBlock"]
    > :first-child:has([data-testid="stElementToolbar"]) { margin-top: 2rem; }
</style>
"""


def present_toggle_ui() -> bool:
    """The sidebar switch; its state lives in the URL as well as the session. Also places the
    app's own constant style for every page (_BASE_STYLE, and _STYLE while presenting)."""
    st.html(_BASE_STYLE)
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


def room(chart: Any) -> Any:
    """A chart as the room should read it: while presenting, every chart, axis and legend text
    at lib.charts.ROOM_FONT px or more; otherwise the chart unchanged."""
    return charts.for_room(chart) if presenting() else chart


def code(text: str, *, label: str | None = None, language: str = "python") -> None:
    """A code block; collapsed behind `label` ("Show code") while presenting."""
    if presenting():
        with st.expander(label or _("Show code")):
            st.code(text, language=language)
    else:
        st.code(text, language=language)


def _as_text(value: Any) -> Any:
    """A string as Markdown that shows exactly its text; a number stays a number (for `fmt`)."""
    return md(value) if isinstance(value, str) else value


def dataframe(
    data: pd.DataFrame,
    where: Any = None,
    *,
    fmt: str | dict[str, str | Callable[[Any], str]] | None = None,
    headers: dict[str, str] | None = None,
    html: bool = False,
    **dataframe_kwargs: Any,
) -> Any:
    """A table: `where.dataframe(...)`, or while presenting `where.table(...)`. Streamlit's dataframe
    is drawn on a canvas, whose ~13 px text no CSS reaches; an HTML table takes the room's size and
    wraps a long header instead of cutting it. `fmt`: Styler formats (a format string, or a function
    of the value); `headers`: shorter column labels ({column: label}), over the translated headers
    of lib.ui.table_labels. `html`: an HTML table in both modes (its cells wrap, so a long run name
    shows whole at 1024 px)."""
    where = where if where is not None else st
    headers = {**column_labels(data), **(headers or {})}  # in the session's language
    if isinstance(fmt, dict):  # formats of the columns this table has
        fmt = {k: v for k, v in fmt.items() if k in data.columns}
    if presenting() or html:
        # st.table reads headers and text cells as Markdown: a class name ("F1 ![x](http://...)") or
        # a run name stays text (lib.ui.text.md), as everywhere else.
        safe = {c: md(headers.get(str(c), c)) for c in data.columns}
        shown = data.rename(columns=safe)
        for i, column in enumerate(shown.columns):
            if not pd.api.types.is_numeric_dtype(shown.iloc[:, i]):
                shown[column] = shown.iloc[:, i].map(_as_text)
        if not pd.api.types.is_numeric_dtype(shown.index):
            shown.index = shown.index.map(_as_text)
        if data.index.name is not None and "_index" in headers:
            shown = shown.rename_axis(md(headers["_index"]))
        if isinstance(fmt, dict):
            fmt = {safe.get(k, k): v for k, v in fmt.items()}
        return where.table(
            shown.style.format(fmt, na_rep=_("n/a")) if fmt is not None else shown,
            hide_index=dataframe_kwargs.get("hide_index"),
        )
    config: dict[str, Any] = dict(headers)  # a string sets the header a person reads
    config.update(dataframe_kwargs.pop("column_config", None) or {})
    return where.dataframe(
        data.style.format(fmt, na_rep=_("n/a")) if fmt is not None else data,
        column_config=config or None,
        **dataframe_kwargs,
    )


def image_grid(key: str) -> Any:
    """A container for rows of pictures in columns: while presenting, its rows do not wrap (a
    wrapped picture took a whole row and grew larger than the others)."""
    return st.container(key=f"image_grid_{key}")


def page_boxes(order: list[str], presenting_order: list[str]) -> dict[str, Any]:
    """One container per part of a page, placed in `order`, or in `presenting_order` while
    presenting (the main figure first). Code fills them in whatever order it runs."""
    return {name: st.container() for name in (presenting_order if presenting() else order)}
