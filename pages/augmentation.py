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
from lib.data import stats
from lib.errors import ExplorerError, one_line
from lib.ui import cache, present, state
from lib.ui.augment_controls import controls_ui, load_into_widgets
from lib.ui.images import for_display
from lib.ui.text import md

st.title("2 · Augmentation")
st.caption("Move a control and see at once what `ImageDataGenerator` does to images of the current dataset.")
ds = cache.current_dataset()

# Settings come from: the saved config (returning to the page), a preset (the tutorial's own
# settings on a first visit), or an uploaded JSON.
load_into_widgets(st.session_state.get(state.AUGMENT) or augment.preset(augment.DEFAULT_PRESET), overwrite=False)


def _apply_preset() -> None:
    if st.session_state["aug_preset"] != augment.CUSTOM:
        load_into_widgets(augment.preset(st.session_state["aug_preset"]), overwrite=True)


if present.presenting():  # the main figure first: the preview on the left
    preview_col, settings_col = st.columns([3, 2], gap="medium")
else:
    settings_col, preview_col = st.columns([2, 3], gap="medium")
with settings_col:
    preset_slot = st.container()  # drawn after the controls, so it can say "custom" when they match no preset
    upload = st.file_uploader("Load settings (.json)", type=["json"], key="aug_json_upload")
    if upload is not None and st.session_state.get("aug_json_applied") != upload.file_id:
        try:
            load_into_widgets(augment.from_json(upload.getvalue().decode("utf-8", "replace")), overwrite=True)
            st.session_state["aug_json_applied"] = upload.file_id
            st.rerun()
        except ExplorerError as exc:
            st.error(f"Settings file not used: {md(one_line(exc))}")
    raw, problems = controls_ui()
    st.session_state["aug_preset"] = augment.matching_preset(raw) if not problems else augment.CUSTOM
    with preset_slot:
        st.selectbox(
            "Preset",
            [*augment.PRESETS, augment.CUSTOM],
            key="aug_preset",
            on_change=_apply_preset,
            help="Fills in the controls below; it says 'custom' once they match no preset.",
        )

if problems:
    preview_col.error("Fix the settings marked in red; the preview shows the last valid settings.")
    config = st.session_state.get(state.AUGMENT) or augment.default_config()
else:
    config = augment.check(raw)
    st.session_state[state.AUGMENT] = config

gen = cache.fitted_generator(ds.fingerprint, augment.to_json(config), ds.x_train)
if augment.flips(config) and stats.orientation_sensitive(ds):
    preview_col.warning(
        f"{' and '.join(augment.flips(config))} on {md(ds.name)}: {md(stats.orientation_sensitive(ds))}. "
        "Flipping teaches the model wrong examples here."
    )

# --- Preview ---------------------------------------------------------------------------
with preview_col:
    st.subheader("Preview")
    c1, c2, c3 = st.columns([2, 1, 1])
    pick = c1.selectbox("Which images", ["one per class", "random"] + list(ds.class_names), key="aug_pick")
    n_images = c2.number_input("How many", 1, 8, 4, key="aug_n_images", help="How many images to augment")
    n_draws = c3.number_input("Draws each", 1, 8, 4, key="aug_n_draws")
    seed = st.session_state.setdefault(state.AUGMENT_SEED, 0)
    if st.button("New draw", key="aug_new_draw", help=f"Current seed: {seed}"):
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
    value_range = augment.display_range(config)
    stretch = st.toggle(
        "Stretch each image",
        key="aug_stretch",
        help="Off: every image on one fixed scale, so brightness compares across images. On: each image stretched "
        "to its own min..max (this looks like colour augmentation, but it is only the display).",
    )

    for i, image_index in enumerate(idx):
        cols = st.columns(int(n_draws) + 1)
        name = md(ds.class_names[ds.y_train[image_index]])
        cols[0].image(for_display(originals[i]), caption=f"original · {name}", width="stretch")
        for j in range(int(n_draws)):
            cols[j + 1].image(
                for_display(to_display(draws[i, j], stretch, value_range)),
                caption=describe_params(params[i][j]),
                width="stretch",
            )
    lo, hi = value_range
    st.caption(
        f"Seed {seed}: the same seed gives the same draws. "
        + (
            "Display: each augmented image stretched to its own min..max (display only)."
            if stretch
            else f"Display: one fixed scale for every image, values {lo:g}..{hi:g} shown as black..white"
            + (" (values outside are clipped)." if (lo, hi) != (0.0, 255.0) else ".")
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
with code_tab:
    present.code(augment.generator_code(config), label="Show the ImageDataGenerator code")
with layers_tab:
    present.code(augment.layers_code(config), label="Show the Keras 3 layers code")
_, gaps = augment.layer_specs(config)
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
