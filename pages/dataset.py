"""Step 1 · Dataset: what is in the data before any model sees it."""

import streamlit as st

from lib.charts import class_balance_chart
from lib.data import stats
from lib.data.snippets import loading_code
from lib.ui import cache, present, state
from lib.ui.images import for_display
from lib.ui.text import md

st.title("1 · Dataset")
ds = cache.current_dataset()
st.caption(f"{md(ds.name)} · fingerprint `{ds.fingerprint[:12]}` · what the loader did is listed below")
for note in ds.notes:
    st.info(md(note))

# --- Summary -------------------------------------------------------------------------
s, counts, pixel_table, dupes = cache.dataset_statistics(ds.fingerprint, ds)  # once per data set
# Three and two a row: five in one row cut "32x32x3" and "0..255" at 1024 px with the sidebar open.
for keys in (["classes", "train images", "test images"], ["image shape", "pixel range"]):
    for col, key in zip(st.columns(3), keys, strict=False):
        col.metric(key.capitalize(), f"{s[key]:,}" if isinstance(s[key], int) else s[key])
st.caption(f"dtype {s['dtype']} · {s['channels']} channel(s)")

# --- Class balance -------------------------------------------------------------------
st.subheader("Class balance")
left, right = st.columns([3, 2])
cache.altair_chart(left, class_balance_chart, counts, width="stretch")
present.dataframe(counts.set_index("class"), right, width="stretch")
baseline = stats.majority_baseline(ds)
st.markdown(f"**Majority-class baseline:** {md(baseline.sentence())}")
if baseline.unbalanced:
    st.warning(
        f"Classes are unbalanced (largest/smallest training class = {baseline.imbalance_ratio:.1f}x). "
        "Accuracy alone misleads here: read per-class recall, balanced accuracy and macro F1 too."
    )


def _keep_panel_open() -> None:
    st.session_state[IMBALANCE_PANEL_OPEN] = True


# Open once used: each change reruns the page with a new warning above, and the panel would
# otherwise come back closed after every slider move.
IMBALANCE_PANEL_OPEN = "imbalance_panel_open"
with st.expander(
    "Create imbalance on purpose (training split only)",
    expanded=bool(st.session_state.get(IMBALANCE_PANEL_OPEN)),
):
    st.caption(
        "Keep only a fraction of one class in the training split. The test split is untouched, "
        "so Train & Evaluate shows what imbalance does to each class."
    )
    current = st.session_state.get(state.IMBALANCE) or (0, 1.0)
    c1, c2 = st.columns(2)
    cls = c1.selectbox(
        "Class",
        range(ds.num_classes),
        index=min(current[0], ds.num_classes - 1),
        format_func=lambda i: ds.class_names[i],
        key="imbalance_class",
        on_change=_keep_panel_open,
    )
    keep = c2.slider(
        "Keep % of its training images",
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
st.subheader("Samples")
c1, c2, c3, c4 = st.columns(4)
split = c1.radio("Split", ["train", "test"], horizontal=True, key="sample_split")
chosen = c2.selectbox(
    "Class",
    ["all"] + list(range(ds.num_classes)),
    key="sample_class",
    format_func=lambda v: "all classes" if v == "all" else ds.class_names[v],
)
per_class = c3.slider("Images per class", 1, 12, 6, key="sample_per_class")
seed = c4.number_input("Seed", 0, 10_000, 0, key="sample_seed")
x, y = (ds.x_train, ds.y_train) if split == "train" else (ds.x_test, ds.y_test)
picked = stats.sample_indices(y, per_class, None if chosen == "all" else [chosen], seed=int(seed))
for cls_index, idx in picked.items():
    if len(idx) == 0:
        st.caption(f"{md(ds.class_names[cls_index])}: no {split} images")
        continue
    st.image([for_display(x[i]) for i in idx], caption=[f"{md(ds.class_names[cls_index])} #{i}" for i in idx], width=72)

# --- Pixel statistics ----------------------------------------------------------------
st.subheader("Pixel statistics")
st.caption(
    "Per channel, on the stored uint8 scale. These decide rescaling (divide by 255) "
    "and standardization (subtract the mean, divide by the std of the training split)."
)
present.dataframe(pixel_table, hide_index=True, width="stretch")

# --- Leakage -------------------------------------------------------------------------
st.subheader("Leakage check")
if dupes.empty:
    st.success("No test image is an exact copy of a training image.")
else:
    st.error(f"{len(dupes)} test image(s) are exact copies of training images: test accuracy is inflated by them.")
    present.dataframe(dupes, hide_index=True, width="stretch")

with st.expander("Show code: load this dataset in a notebook"):
    h, w, _ = ds.image_shape
    st.code(loading_code(cache.current_spec(), (h, w)), language="python")
