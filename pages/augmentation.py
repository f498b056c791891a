"""Step 2 · Augmentation: what ImageDataGenerator does to real images, and its exact code."""

import numpy as np
import streamlit as st

from lib.augment import settings as augment
from lib.augment.preview import (
    augment_draws,
    describe_params,
    distribution_table,
    standardize_only,
    to_display,
    value_stats,
)
from lib.charts import distribution_chart
from lib.errors import ExplorerError
from lib.ui import cache, state
from lib.ui.augment_controls import controls_ui, load_into_widgets
from lib.ui.images import for_display

st.title("2 · Augmentation")
st.caption("Move a control and see at once what `ImageDataGenerator` does to images of the current dataset.")
ds = cache.current_dataset()

# Settings come from: the saved config (returning to the page), a preset, or an uploaded JSON.
load_into_widgets(st.session_state.get(state.AUGMENT) or augment.default_config(), overwrite=False)


def _apply_preset() -> None:
    load_into_widgets(augment.preset(st.session_state["aug_preset"]), overwrite=True)


settings_col, preview_col = st.columns([1, 2], gap="large")
with settings_col:
    st.selectbox(
        "Preset",
        list(augment.PRESETS),
        key="aug_preset",
        on_change=_apply_preset,
        help="Fills in the controls below; change any of them afterwards.",
    )
    upload = st.file_uploader("Load settings (.json)", type=["json"], key="aug_json_upload")
    if upload is not None and st.session_state.get("aug_json_applied") != upload.file_id:
        try:
            load_into_widgets(augment.from_json(upload.getvalue().decode("utf-8", "replace")), overwrite=True)
            st.session_state["aug_json_applied"] = upload.file_id
            st.rerun()
        except ExplorerError as exc:
            st.error(f"Settings file not used: {exc}")
    raw, problems = controls_ui()

if problems:
    preview_col.error("Fix the settings marked in red; the preview shows the last valid settings.")
    config = st.session_state.get(state.AUGMENT) or augment.default_config()
else:
    config = augment.check(raw)
    st.session_state[state.AUGMENT] = config

gen = cache.fitted_generator(ds.fingerprint, augment.to_json(config), ds.x_train)
stretch = augment.changes_pixel_distribution(config)

# --- Preview ---------------------------------------------------------------------------
with preview_col:
    st.subheader("Preview")
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
    pick = c1.selectbox("Images", ["one per class", "random"] + list(ds.class_names), key="aug_pick")
    n_images = c2.number_input("Images", 1, 8, 4, key="aug_n_images")
    n_draws = c3.number_input("Draws each", 1, 8, 4, key="aug_n_draws")
    seed = st.session_state.setdefault(state.AUGMENT_SEED, 0)
    if c4.button("New draw", key="aug_new_draw", help=f"Current seed: {seed}"):
        st.session_state[state.AUGMENT_SEED] = seed = seed + 1
    rng = np.random.default_rng(seed)
    if pick == "one per class":
        idx = np.array([rng.choice(np.flatnonzero(ds.y_train == c)) for c in np.unique(ds.y_train)])[: int(n_images)]
    elif pick == "random":
        idx = rng.choice(len(ds.x_train), size=min(int(n_images), len(ds.x_train)), replace=False)
    else:
        members = np.flatnonzero(ds.y_train == ds.class_names.index(pick))
        idx = rng.choice(members, size=min(int(n_images), len(members)), replace=False)
    originals = ds.x_train[idx]
    draws, params = augment_draws(gen, originals, int(n_draws), seed)

    for i, image_index in enumerate(idx):
        cols = st.columns(int(n_draws) + 1)
        cols[0].image(
            for_display(originals[i]), caption=f"original · {ds.class_names[ds.y_train[image_index]]}", width="stretch"
        )
        for j in range(int(n_draws)):
            cols[j + 1].image(
                for_display(to_display(draws[i, j], stretch)), caption=describe_params(params[i][j]), width="stretch"
            )
    st.caption(
        f"Seed {seed}: the same seed gives the same draws. "
        + (
            "Values are no longer 0..255 pixels, so each augmented image is stretched to its own min..max "
            "for display only."
            if stretch
            else ""
        )
    )

    st.markdown("**The same images before and after** (what the model receives, not the display)")
    st.dataframe(
        value_stats({"before (uint8 pixels)": originals.astype(np.float32), "after (augmented)": draws}),
        hide_index=True,
        width="stretch",
    )

# --- The preprocessing trap ---------------------------------------------------------------
st.subheader("Evaluation images need the same preprocessing")
if augment.changes_pixel_distribution(config):
    steps = ", ".join(k for k in augment.NORMALIZATION if augment.non_defaults(config).get(k))
    st.warning(
        f"These settings change the pixel values ({steps}). Validation and test images must get the same "
        "deterministic step, `datagen.standardize(x)`, and never the random transforms. A tutorial that trained "
        "with samplewise centring and evaluated raw images got test loss 53.2 and accuracy 0.386."
    )
    sample = ds.x_test[: min(200, len(ds.x_test))]
    train_sample = ds.x_train[: min(200, len(ds.x_train))]
    table = distribution_table(
        {
            "training images (after the generator)": standardize_only(gen, train_sample),
            "raw test images (the mistake)": sample.astype(np.float32),
            "test images after datagen.standardize (the fix)": standardize_only(gen, sample),
        }
    )
    st.altair_chart(distribution_chart(table), width="stretch")
else:
    st.success(
        "These settings keep pixel values as they are: evaluation images need no extra step. "
        "Random transforms are for training only either way."
    )

# --- Code ---------------------------------------------------------------------------------
st.subheader("Code")
code_tab, layers_tab = st.tabs(["ImageDataGenerator", "Keras 3 preprocessing layers"])
code_tab.code(augment.generator_code(config), language="python")
layers_tab.code(augment.layers_code(config, ds.image_shape), language="python")
_, gaps = augment.layer_specs(config, ds.image_shape)
if gaps:
    layers_tab.markdown("**No exact equivalent:**\n" + "\n".join(f"- {g}" for g in gaps))
st.download_button(
    "Download settings (.json)",
    augment.to_json(config),
    file_name="augmentation.json",
    mime="application/json",
    key="aug_download",
    help="Train & Evaluate and `python -m lib.cli train --augment FILE.json` accept this file.",
)
