"""The Augmentation page's preview: k seeded draws of the generator on real images, shown on
one fixed scale, with the values the model receives."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from lib.augment import settings as augment
from lib.augment.preview import augment_draws, describe_params, to_display, value_stats
from lib.data.dataset import Dataset
from lib.i18n import N_, _
from lib.ui import present, state
from lib.ui.images import for_display
from lib.ui.text import md

ONE_PER_CLASS, RANDOM = -1, -2
PICK_LABELS = {ONE_PER_CLASS: N_("one per class"), RANDOM: N_("random")}


@st.fragment
def preview_ui(ds: Dataset, gen: Any, config: dict[str, Any]) -> None:
    """The augmentation preview: its own controls (which images, how many, new draw, stretch)
    rerun only this view, not the whole page (st.fragment)."""
    st.subheader(_("Preview"))
    c1, c2, c3 = st.columns([2, 1, 1])
    # Options are codes, not names: a class called "random" is still that class.
    pick = c1.selectbox(
        _("Which images"),
        [ONE_PER_CLASS, RANDOM, *range(len(ds.class_names))],
        format_func=lambda code: (
            _(PICK_LABELS[code]) if code in PICK_LABELS else _("class: {name}").format(name=ds.class_names[code])
        ),
        key="aug_pick",
    )
    n_images = c2.number_input(_("How many"), 1, 8, 4, key="aug_n_images", help=_("How many images to augment"))
    n_draws = c3.number_input(_("Draws each"), 1, 8, 4, key="aug_n_draws")
    seed = st.session_state.setdefault(state.AUGMENT_SEED, 0)
    if st.button(_("New draw"), key="aug_new_draw", help=_("Current seed: {seed}").format(seed=seed)):
        st.session_state[state.AUGMENT_SEED] = seed = seed + 1
    rng = np.random.default_rng(seed)
    if pick == ONE_PER_CLASS:
        idx = np.array([rng.choice(np.flatnonzero(ds.y_train == c)) for c in np.unique(ds.y_train)])[: int(n_images)]
    elif pick == RANDOM:
        idx = rng.choice(len(ds.x_train), size=min(int(n_images), len(ds.x_train)), replace=False)
    else:
        members = np.flatnonzero(ds.y_train == pick)
        idx = rng.choice(members, size=min(int(n_images), len(members)), replace=False)
    originals = ds.x_train[idx]
    draws, params = augment_draws(gen, originals, int(n_draws), seed)
    value_range = augment.display_range(config)
    stretch = st.toggle(
        _("Stretch each image"),
        key="aug_stretch",
        help=_(
            "Off: every image on one fixed scale, so brightness compares across images. On: each image stretched "
            "to its own min..max (this looks like colour augmentation, but it is only the display)."
        ),
    )

    with present.image_grid("augment_preview"):  # presenting: every picture one size, rows never wrap
        for i, image_index in enumerate(idx):
            cols = st.columns(int(n_draws) + 1)
            name = md(ds.class_names[ds.y_train[image_index]])
            cols[0].image(for_display(originals[i]), caption=_("original · {name}").format(name=name), width="stretch")
            for j in range(int(n_draws)):
                cols[j + 1].image(
                    for_display(to_display(draws[i, j], stretch, value_range)),
                    caption=describe_params(params[i][j]),
                    width="stretch",
                )
    lo, hi = value_range
    if stretch:
        display_line = _("Display: each augmented image stretched to its own min..max (display only).")
    elif (lo, hi) != (0.0, 255.0):
        display_line = _(
            "Display: one fixed scale for every image, values {lo}..{hi} shown as black..white "
            "(values outside are clipped)."
        ).format(lo=f"{lo:g}", hi=f"{hi:g}")
    else:
        display_line = _("Display: one fixed scale for every image, values {lo}..{hi} shown as black..white.").format(
            lo=f"{lo:g}", hi=f"{hi:g}"
        )
    st.caption(_("Seed {seed}: the same seed gives the same draws. {display}").format(seed=seed, display=display_line))

    st.markdown(
        _("**The same images before (uint8 pixels) and after augmentation** (what the model receives, not the display)")
    )
    stats = value_stats({_("before"): originals.astype(np.float32), _("after"): draws})
    present.dataframe(_one_label(stats), hide_index=True, width="stretch")


def _one_label(stats: pd.DataFrame) -> pd.DataFrame:
    """The images and their channel in one column ("before · R"; gray images need no channel). Beside
    the controls the table has 320 px at 1024x768 with the sidebar open: six columns needed 405."""
    label = stats["images"] if (stats["channel"] == "gray").all() else stats["images"] + " · " + stats["channel"]
    return stats.assign(images=label).drop(columns="channel")
