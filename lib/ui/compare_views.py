"""Views of Compare runs: the stored runs' table, readable at 1024 px in both modes.

The table's 20-odd columns (settings, figures, one F1 per class) do not fit side by side at
1024x768 with the sidebar open: the headline columns come first, one row per run, and every
column is one click away, turned on its side (one row per setting, a few runs to a table)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib.i18n import _
from lib.runs.compare import by_setting
from lib.ui import present
from lib.ui.table_labels import header

KEY_COLUMNS = ("name", "study step", "accuracy", "balanced accuracy", "macro F1", "status")
# Our own constant CSS: a run id or a long name breaks inside the word rather than push its table
# wider than the page (an HTML table grows to its longest word): the headline table's names, and
# the by-setting tables' cells and headers (run names). Not the headline table's headers and
# figures ("accura/cy", "comple/te" at 1024 px) nor the row labels (settings' names); keep-all, not
# normal, so a Korean header ("균형 정확도") breaks between its words too.
_WRAP = """<style>
  .stApp [class*="st-key-runs_key_columns"] [data-testid="stTable"] :is(td.col0, td.col0 *),
  .stApp [class*="st-key-runs_by_setting"] [data-testid="stTable"] :is(td, td *),
  .stApp [class*="st-key-runs_by_setting"] [data-testid="stTable"] :is(th.col_heading, th.col_heading *) {
    white-space: normal !important; overflow-wrap: anywhere !important; }
  .stApp [class*="st-key-runs_key_columns"] [data-testid="stTable"] :is(th.col_heading, th.col_heading *) {
    overflow-wrap: normal !important; word-break: keep-all !important; }
</style>"""


def runs_table_ui(shown: pd.DataFrame, fmt: dict[str, str]) -> None:
    """The headline columns, one row per run; every column in an expander, one row per setting.
    HTML tables in both modes: their cells wrap, so every run's name shows whole (a canvas table cut
    a name longer than its column, and no CSS reaches its text)."""
    st.html(_WRAP)
    with st.container(key="runs_key_columns"):
        present.dataframe(shown[[c for c in KEY_COLUMNS if c in shown]], fmt=fmt, hide_index=True, html=True)
    with st.expander(_("Every column (run id, settings, F1 per class)")), st.container(key="runs_by_setting"):
        for piece in by_setting(shown, fmt):
            present.dataframe(piece.rename(index=header), html=True)
