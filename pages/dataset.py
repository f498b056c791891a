"""Step 1 · Dataset: what is in the data before any model sees it."""

import streamlit as st

from lib.charts import class_balance_chart
from lib.data import stats
from lib.data.snippets import loading_code
from lib.i18n import N_, _, shown
from lib.ui import cache, present, state
from lib.ui.images import for_display
from lib.ui.text import md

st.title(_("1 · Dataset"))
ds = cache.current_dataset()
st.caption(
    _("{name} · fingerprint `{fingerprint}` · what the loader did is listed below").format(
        name=md(ds.name), fingerprint=ds.fingerprint[:12]
    )
)
for note in ds.notes:
    st.info(md(shown(note)))

# --- Summary -------------------------------------------------------------------------
s, counts, pixel_table, dupes = cache.dataset_statistics(ds.fingerprint, ds)  # once per data set
SUMMARY_LABELS = {
    "classes": N_("Classes"),
    "train images": N_("Train images"),
    "test images": N_("Test images"),
    "image shape": N_("Image shape"),
    "pixel range": N_("Pixel range"),
}
# Three and two a row: five in one row cut "32x32x3" and "0..255" at 1024 px with the sidebar open.
for keys in (["classes", "train images", "test images"], ["image shape", "pixel range"]):
    for col, key in zip(st.columns(3), keys, strict=False):
        col.metric(_(SUMMARY_LABELS[key]), f"{s[key]:,}" if isinstance(s[key], int) else s[key])
st.caption(_("dtype {dtype} · {channels} channel(s)").format(dtype=s["dtype"], channels=s["channels"]))

# --- Class balance -------------------------------------------------------------------
st.subheader(_("Class balance"))
left, right = st.columns([3, 2])
cache.altair_chart(left, class_balance_chart, counts, width="stretch")
present.dataframe(counts.set_index("class"), right, width="stretch")
baseline = stats.majority_baseline(ds)
st.markdown(_("**Majority-class baseline:** {sentence}").format(sentence=md(baseline.sentence())))
if baseline.unbalanced:
    st.warning(
        _(
            "Classes are unbalanced (largest/smallest training class = {ratio}x). "
            "Accuracy alone misleads here: read per-class recall, balanced accuracy and macro F1 too."
        ).format(ratio=f"{baseline.imbalance_ratio:.1f}")
    )


def _keep_panel_open() -> None:
    st.session_state[IMBALANCE_PANEL_OPEN] = True


# Open once used: each change reruns the page with a new warning above, and the panel would
# otherwise come back closed after every slider move.
IMBALANCE_PANEL_OPEN = "imbalance_panel_open"
with st.expander(
    _("Create imbalance on purpose (training split only)"),
    expanded=bool(st.session_state.get(IMBALANCE_PANEL_OPEN)),
):
    st.caption(
        _(
            "Keep only a fraction of one class in the training split. The test split is untouched, "
            "so Train & Evaluate shows what imbalance does to each class."
        )
    )
    current = st.session_state.get(state.IMBALANCE) or (0, 1.0)
    c1, c2 = st.columns(2)
    cls = c1.selectbox(
        _("Class"),
        range(ds.num_classes),
        index=min(current[0], ds.num_classes - 1),
        format_func=lambda i: ds.class_names[i],
        key="imbalance_class",
        on_change=_keep_panel_open,
    )
    keep = c2.slider(
        _("Share of its training images kept (%)"),
        5,
        100,
        int(round(current[1] * 100)),
        step=5,
        key="imbalance_keep",
        on_change=_keep_panel_open,
    )
    wanted = (int(cls), keep / 100) if keep < 100 else None
    if wanted != st.session_state.get(state.IMBALANCE):
        st.session_state[state.IMBALANCE] = wanted
        st.rerun()

# --- Samples -------------------------------------------------------------------------
st.subheader(_("Samples"))
c1, c2, c3, c4 = st.columns(4)
SPLIT_LABELS = {"train": N_("train"), "test": N_("test")}
split = c1.radio(
    _("Split"), list(SPLIT_LABELS), horizontal=True, key="sample_split", format_func=lambda v: _(SPLIT_LABELS[v])
)
chosen = c2.selectbox(
    _("Class"),
    ["all"] + list(range(ds.num_classes)),
    key="sample_class",
    format_func=lambda v: _("all classes") if v == "all" else ds.class_names[v],
)
per_class = c3.slider(_("Images per class"), 1, 12, 6, key="sample_per_class")
seed = c4.number_input(_("Seed"), 0, 10_000, 0, key="sample_seed")
x, y = (ds.x_train, ds.y_train) if split == "train" else (ds.x_test, ds.y_test)
picked = stats.sample_indices(y, per_class, None if chosen == "all" else [chosen], seed=int(seed))
for cls_index, idx in picked.items():
    if len(idx) == 0:
        empty = _("{name}: no training images") if split == "train" else _("{name}: no test images")
        st.caption(empty.format(name=md(ds.class_names[cls_index])))
        continue
    st.image([for_display(x[i]) for i in idx], caption=[f"{md(ds.class_names[cls_index])} #{i}" for i in idx], width=72)

# --- Pixel statistics ----------------------------------------------------------------
st.subheader(_("Pixel statistics"))
st.caption(
    _(
        "Per channel, on the stored uint8 scale. These decide rescaling (divide by 255) "
        "and standardization (subtract the mean, divide by the std of the training split)."
    )
)
# the split and channel names as the reader says them (the table keeps the English values)
shown_pixels = pixel_table.assign(split=pixel_table["split"].map(_), channel=pixel_table["channel"].map(_))
present.dataframe(shown_pixels, hide_index=True, width="stretch")

# --- Leakage -------------------------------------------------------------------------
st.subheader(_("Leakage check"))
if dupes.empty:
    st.success(_("No test image is an exact copy of a training image."))
else:
    st.error(
        _("{n} test image(s) are exact copies of training images: test accuracy is inflated by them.").format(
            n=len(dupes)
        )
    )
    present.dataframe(dupes, hide_index=True, width="stretch")

with st.expander(_("Show code: load this dataset in a notebook")):
    h, w = ds.image_shape[:2]
    st.code(loading_code(cache.current_spec(), (h, w)), language="python")
