"""Export a run for phones and small boards (LiteRT) and see what quantization costs each class."""

from __future__ import annotations

import streamlit as st

from lib.data.dataset import Dataset
from lib.errors import ExplorerError, one_line
from lib.runs import export
from lib.runs.store import StoredRun
from lib.ui import present
from lib.ui.text import md

TABLE_FORMAT = {
    "file size (KB)": "{:,.1f}",
    "accuracy": "{:.3f}",
    "balanced accuracy": "{:.3f}",
    "agreement": "{:.1%}",
    "ms per image": "{:.2f}",
}
CLASS_FORMAT = {
    column: ("{:+.3f}" if column.endswith("change") else "{:.3f}")
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
TABLE_HEADERS = {"file size (KB)": "KB", "balanced accuracy": "balanced", "ms per image": "ms/image"}
CLASS_HEADERS = {
    "recall (Keras)": "recall Keras",
    "recall (LiteRT)": "recall LiteRT",
    "recall change": "Δ recall",
    "precision (Keras)": "precision Keras",
    "precision (LiteRT)": "precision LiteRT",
    "precision change": "Δ precision",
}


@st.fragment
def export_ui(run: StoredRun, ds: Dataset) -> None:
    """The export control, the table of every export beside the Keras model, and for one
    export the per-class changes with the lesson: which class quantization costs most."""
    st.markdown("#### Export for phones and small boards (LiteRT)")
    _, runtime_name = export.runtime()
    st.caption(
        "The .tflite file takes the same raw uint8 images as model.keras. Each export is run back on the whole "
        f"test split, one image at a time, with the {runtime_name}. Full-integer int8 is calibrated on the "
        "run's training images, never the test split."
    )
    c1, c2 = st.columns([3, 1])
    quantize = c1.selectbox(
        "Quantization", list(export.QUANTIZATIONS), format_func=export.QUANTIZATIONS.get, key="export_quantize"
    )
    if c2.button("Export", key="export_button"):
        if ds.fingerprint != run.record.dataset.fingerprint:
            st.error("This run was trained on another data set: choose that data set to export it.")
        else:
            try:
                with st.spinner("Converting and running the file on the test split…"):
                    export.export_run(run, ds, quantize)
            except ExplorerError as exc:
                st.error(md(one_line(exc)))
    found = export.list_exports(run)
    if not found:
        st.caption("No export of this run yet.")
        return
    present.dataframe(
        export.comparison_table(run, found),
        fmt=TABLE_FORMAT,
        headers=TABLE_HEADERS,
        hide_index=True,
        width="stretch",
        key="export_table",
    )
    titles = {e.quantize: e.title for e in found}
    shown = st.selectbox(
        "Per class, for", list(titles), format_func=titles.get, index=len(titles) - 1, key="export_per_class"
    )
    chosen = next(e for e in found if e.quantize == shown)
    table = export.per_class_table(run, chosen)
    st.markdown(f"**{md(export.lesson(table, chosen))}**")
    present.dataframe(
        table, fmt=CLASS_FORMAT, headers=CLASS_HEADERS, hide_index=True, width="stretch", key="export_classes"
    )
    st.download_button(
        f"Download {chosen.tflite.name}",
        lambda: chosen.tflite.read_bytes(),
        f"{run.run_id}_{chosen.tflite.name}",
        key="export_download",
    )
