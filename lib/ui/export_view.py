"""Export a run for phones and small boards (LiteRT) and see what quantization costs each class."""

from __future__ import annotations

import streamlit as st

from lib.data.dataset import Dataset
from lib.errors import ExplorerError, one_line
from lib.i18n import N_, _
from lib.runs import export
from lib.runs.store import StoredRun
from lib.ui import present
from lib.ui.text import md


def _points(change: float) -> str:
    """A change of a share in percentage points: 0.95 -> 0.928 is "-2.2". The unit is said under
    the table: in each cell or in the header it widened the grid past 1024 px."""
    return f"{change * 100:+.1f}"


# Every share in percent, like the rest of the page (fractions beside percentages read as
# different things); a change of a share in percentage points.
TABLE_FORMAT = {
    "file size (KB)": "{:,.1f}",
    "accuracy": "{:.1%}",
    "balanced accuracy": "{:.1%}",
    "agreement": "{:.1%}",
    "ms per image": "{:.2f}",
}
CLASS_FORMAT = {
    column: (_points if column.endswith("change") else "{:.1%}")
    for column in (
        "recall (Keras)",
        "recall (LiteRT)",
        "recall change",
        "precision (Keras)",
        "precision (LiteRT)",
        "precision change",
    )
}


# Short headers, so every column fits at 1024 px with the sidebar open (the data keep the long names).
# The grid sizes each column by its header and values; a fixed "small" width cut "precision Keras".
# Marked for the catalogue, translated where the table is drawn.
TABLE_HEADERS = {
    "file size (KB)": "KB",
    "balanced accuracy": N_("balanced"),
    "agreement": N_("agreement"),
    "ms per image": N_("ms/image"),
}
CLASS_HEADERS = {
    "recall (Keras)": N_("recall Keras"),
    "recall (LiteRT)": N_("recall LiteRT"),
    "recall change": N_("Δ recall"),
    "precision (Keras)": N_("precision Keras"),
    "precision (LiteRT)": N_("precision LiteRT"),
    "precision change": N_("Δ precision"),
}
# On the canvas grid (not presenting) each change is "Δ" after its two columns: with "Δ precision" the
# seven headers needed 579 px and the grid has 562 at 1024x768 with the sidebar open, so the last one
# was cut ("Δ precisio…"). The HTML table while presenting wraps its headers and keeps the longer ones.
GRID_HEADERS = {
    "recall change": N_("Δ"),
    "precision change": N_("Δ"),
}


def _shown(headers: dict[str, str]) -> dict[str, str]:
    return {column: _(label) for column, label in headers.items()}


@st.fragment
def export_ui(run: StoredRun, ds: Dataset) -> None:
    """The export control, the table of every export beside the Keras model, and for one
    export the per-class changes with the lesson: which class quantization costs most."""
    st.markdown(_("#### Export for phones and small boards (LiteRT)"))
    _interpreter, runtime_name = export.runtime()
    st.caption(
        _(
            "The .tflite file takes the same raw uint8 images as model.keras. Each export is run back on the "
            "whole test split, one image at a time, with the {runtime}. Full-integer int8 is calibrated on the "
            "run's training images, never the test split."
        ).format(runtime=runtime_name)
    )
    c1, c2 = st.columns([3, 1])
    quantize = c1.selectbox(
        _("Quantization"),
        list(export.QUANTIZATIONS),
        format_func=lambda code: _(export.QUANTIZATIONS[code]),
        key="export_quantize",
    )
    if c2.button(_("Export"), key="export_button"):
        if ds.fingerprint != run.record.dataset.fingerprint:
            st.error(_("This run was trained on another data set: choose that data set to export it."))
        else:
            try:
                with st.spinner(_("Converting and running the file on the test split…")):
                    export.export_run(run, ds, quantize)
                st.session_state["export_per_class"] = quantize  # the lesson of the file just made
            except ExplorerError as exc:
                st.error(md(one_line(exc)))
    found = export.list_exports(run)
    if not found:
        st.caption(_("No export of this run yet."))
        return
    present.dataframe(
        export.comparison_table(run, found),
        fmt=TABLE_FORMAT,
        headers=_shown(TABLE_HEADERS),
        hide_index=True,
        width="stretch",
        key="export_table",
    )
    titles = {e.quantize: e.title for e in found}
    shown = st.selectbox(
        _("Per class, for"), list(titles), format_func=titles.get, index=len(titles) - 1, key="export_per_class"
    )
    chosen = next(e for e in found if e.quantize == shown)
    table = export.per_class_table(run, chosen)
    st.markdown(f"**{md(export.lesson(table, chosen))}**")
    present.dataframe(
        table,
        fmt=CLASS_FORMAT,
        headers=_shown(CLASS_HEADERS),
        column_config=_shown(GRID_HEADERS),  # the canvas grid only
        hide_index=True,
        width="stretch",
        key="export_classes",
    )
    st.caption(_("Δ: the exported file minus the Keras model (the two columns before it), in percentage points."))
    st.download_button(
        _("Download {file}").format(file=export.tflite_name(chosen.quantize)),
        lambda: chosen.tflite.read_bytes(),
        f"{run.run_id}_{export.tflite_name(chosen.quantize)}",  # by what it holds, also one stored as model_none
        key="export_download",
    )
