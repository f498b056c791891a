"""Step 2 · Augmentation: what ImageDataGenerator does to real images, and its exact code."""

import numpy as np
import streamlit as st

from lib.augment import settings as augment
from lib.augment.preview import (
    distribution_table,
    standardize_only,
)
from lib.charts import distribution_chart
from lib.data import stats
from lib.errors import ExplorerError, one_line
from lib.i18n import _, shown
from lib.ui import cache, present, state
from lib.ui.augment_controls import controls_ui, load_into_widgets
from lib.ui.augment_preview_view import preview_ui
from lib.ui.text import md
from lib.ui.url_state import sync_url

st.title(_("2 · Augmentation"))
st.caption(_("Move a control and see at once what `ImageDataGenerator` does to images of the current dataset."))
ds = cache.current_dataset()

# Settings come from: the saved config (returning to the page), a preset (the tutorial's own
# settings on a first visit), or an uploaded JSON.
load_into_widgets(st.session_state.get(state.AUGMENT) or augment.preset(augment.DEFAULT_PRESET), overwrite=False)


def _apply_preset() -> None:
    if st.session_state["aug_preset"] != augment.CUSTOM:
        load_into_widgets(augment.preset(st.session_state["aug_preset"]), overwrite=True)


@st.fragment
def page_body() -> None:
    """Every control of this page and everything that depends on them: a control change
    reruns this, not the sidebar and router (the URL is brought up to date at its end)."""
    # The preset slot is drawn after the controls, so it can say "custom" when they match no preset.
    # Beside the preview its long names ("tutorial: rotate 10, shift 0.1, flip") were cut: it spans the page.
    if present.presenting():  # the main figure first: the preview across the page, the controls below it
        preview_col, preset_slot, settings_col = st.container(), st.container(), st.container()
    else:
        preset_slot = st.container()
        settings_col, preview_col = st.columns([2, 3], gap="medium")
    with settings_col:
        upload = st.file_uploader(_("Load settings (.json)"), type=["json"], key="aug_json_upload")
        if upload is not None and st.session_state.get("aug_json_applied") != upload.file_id:
            try:
                load_into_widgets(augment.from_json(upload.getvalue().decode("utf-8", "replace")), overwrite=True)
                st.session_state["aug_json_applied"] = upload.file_id
                st.rerun()
            except ExplorerError as exc:
                st.error(_("Settings file not used: {reason}").format(reason=md(one_line(exc))))
        raw, problems = controls_ui()
        st.session_state["aug_preset"] = augment.matching_preset(raw) if not problems else augment.CUSTOM
        with preset_slot:
            st.selectbox(
                _("Preset"),
                [*augment.PRESETS, augment.CUSTOM],
                format_func=lambda name: _(augment.PRESET_TITLES.get(name, name)),
                key="aug_preset",
                on_change=_apply_preset,
                help=_("Fills in the controls below; it says 'custom' once they match no preset."),
            )

    if problems:
        preview_col.error(_("Fix the settings marked in red; the preview shows the last valid settings."))
        config = st.session_state.get(state.AUGMENT) or augment.default_config()
    else:
        config = augment.check(raw)
        st.session_state[state.AUGMENT] = config

    gen = cache.fitted_generator(ds.fingerprint, augment.to_json(config), ds.x_train)
    if augment.flips(config) and stats.orientation_sensitive(ds):
        preview_col.warning(
            _("{flips} on {name}: {reason}. Flipping teaches the model wrong examples here.").format(
                flips=" + ".join(augment.flips(config)), name=md(ds.name), reason=md(stats.orientation_sensitive(ds))
            )
        )

    # --- Preview ---------------------------------------------------------------------------
    with preview_col:
        preview_ui(ds, gen, config)

    # --- The preprocessing trap ---------------------------------------------------------------
    st.subheader(_("Evaluation images need the same preprocessing"))
    if augment.changes_pixel_distribution(config):
        steps = ", ".join(k for k in augment.NORMALIZATION if augment.non_defaults(config).get(k))
        st.warning(
            _(
                "These settings change the pixel values ({steps}). Validation and test images must get the same "
                "deterministic step, `datagen.standardize(x)`, and never the random transforms. A tutorial that "
                "trained with samplewise centring and evaluated raw images got test loss 53.2 and accuracy 0.386."
            ).format(steps=steps)
        )
        sample = ds.x_test[: min(200, len(ds.x_test))]
        train_sample = ds.x_train[: min(200, len(ds.x_train))]
        table = distribution_table(
            {
                _("training images (after the generator)"): standardize_only(gen, train_sample),
                _("raw test images (the mistake)"): sample.astype(np.float32),
                _("test images after datagen.standardize (the fix)"): standardize_only(gen, sample),
            }
        )
        st.altair_chart(present.room(distribution_chart(table)), width="stretch")
    else:
        st.success(
            _(
                "These settings keep pixel values as they are: evaluation images need no extra step. "
                "Random transforms are for training only either way."
            )
        )

    # --- Code ---------------------------------------------------------------------------------
    st.subheader(_("Code"))
    code_tab, layers_tab = st.tabs(["ImageDataGenerator", _("Keras 3 preprocessing layers")])
    with code_tab:
        present.code(augment.generator_code(config), label=_("Show the ImageDataGenerator code"))
    with layers_tab:
        present.code(augment.layers_code(config, ds.image_shape), label=_("Show the Keras 3 layers code"))
    gaps = augment.layer_specs(config, ds.image_shape)[1]
    if gaps:
        layers_tab.markdown(_("**No exact equivalent:**") + "\n" + "\n".join(f"- {shown(g)}" for g in gaps))
    st.download_button(
        _("Download settings (.json)"),
        augment.to_json(config),
        file_name="augmentation.json",
        mime="application/json",
        key="aug_download",
        help=_("Train & Evaluate and `python -m lib.cli train --augment FILE.json` accept this file."),
    )
    sync_url()


page_body()
