"""The choices a reload (F5) or a shared link should restore live in the URL (st.query_params):
the data set, the imbalance made on purpose, and the augmentation settings.

    ?dataset=shapes                       a built-in or Keras source
    ?dataset=folder&path=/data/flowers    a folder (or dataset=npz&path=... for a local .npz)
    ?dataset=images&path=pets-1a2b3c4d5e   a saved set of your own pictures (lib.data.picture_sets)
    &imbalance=3:0.25                     class 3 kept at 25 % of its training images
    &augment={"rotation_range":10}        ImageDataGenerator settings that differ from the defaults

An uploaded .npz cannot be put in a URL: its link restores the default data set.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import streamlit as st

from lib.augment import settings as augment
from lib.data.sources import DatasetSpec
from lib.errors import ExplorerError
from lib.ui import cache, state

RESTORED = "url_restored"  # session key: the URL was read once, on the session's first run
PENDING_IMBALANCE = "url_pending_imbalance"  # applied once the data set from the URL is loaded
BUILT_IN = ("digits", "shapes", "mnist", "fashion_mnist", "cifar10")
KEYS = ("dataset", "path", "imbalance", "augment")  # the query parameters this module owns


def spec_from_params(params: dict[str, str]) -> DatasetSpec | None:
    kind = params.get("dataset", "")
    if kind in BUILT_IN:
        return DatasetSpec(kind)
    if kind in ("folder", "npz", "images") and params.get("path", "").strip():
        return DatasetSpec(kind, params["path"].strip())
    return None


def params_for(
    spec: DatasetSpec, imbalance: tuple[int, float] | None, augment_config: dict[str, Any] | None
) -> dict[str, str]:
    """The query parameters for these choices (the inverse of what restore_from_url reads)."""
    params: dict[str, str] = {}
    if spec.kind in BUILT_IN:
        params["dataset"] = spec.kind
    elif spec.kind in ("folder", "npz", "images") and not spec.upload_digest:
        params.update(dataset=spec.kind, path=spec.path)
    if imbalance:
        params["imbalance"] = f"{int(imbalance[0])}:{float(imbalance[1]):g}"
    if augment_config and not augment.is_identity(augment_config):
        params["augment"] = json.dumps(augment.non_defaults(augment_config), separators=(",", ":"), sort_keys=True)
    return params


# The Dataset page's "Keep %" slider: 5..100 in steps of 5 (100 = no imbalance).
KEEP_STEP_PERCENT = 5


def parse_imbalance(text: str) -> tuple[int, float] | None:
    """`class:fraction` from a link, the fraction snapped to a value the slider can show
    (5 %, 10 %, ... 95 %): a fraction the slider cannot hold (0.004) would have the page and
    the sidebar correct each other forever."""
    try:
        cls, frac = text.split(":")
        value = (int(cls), float(frac))
    except ValueError:
        return None
    if not (value[0] >= 0 and 0 < value[1] < 1):
        return None
    step = KEEP_STEP_PERCENT
    percent = min(100 - step, max(step, round(value[1] * 100 / step) * step))
    return value[0], percent / 100


def restore_from_url() -> DatasetSpec | None:
    """On a session's first run: put the URL's choices into the session (the widgets read them).
    Returns the data set the URL asks for, to be loaded like a sidebar choice."""
    if st.session_state.get(RESTORED):
        return None
    st.session_state[RESTORED] = True
    params = st.query_params.to_dict()
    spec = spec_from_params(params)
    if spec is not None:
        st.session_state["source_choice"] = spec.kind
        if spec.kind == "folder":
            st.session_state["folder_path"] = spec.path
        elif spec.kind == "npz":
            st.session_state["npz_path"] = spec.path
        elif spec.kind == "images":
            st.session_state[state.IMAGES_SET] = spec.path
    imbalance = parse_imbalance(params.get("imbalance", ""))
    if imbalance is not None:
        st.session_state[PENDING_IMBALANCE] = (spec or cache.current_spec(), imbalance)
    if params.get("augment"):
        with contextlib.suppress(ExplorerError):  # a damaged link: default settings
            st.session_state[state.AUGMENT] = augment.from_json(params["augment"])
    return spec


def apply_pending_imbalance() -> None:
    """After the URL's data set is in use: its imbalance, when the class exists."""
    pending = st.session_state.get(PENDING_IMBALANCE)
    if not pending:
        return
    spec, (cls, frac) = pending
    if spec != cache.current_spec():
        return  # still loading (or it failed): try again next run
    st.session_state.pop(PENDING_IMBALANCE)
    if cls < cache.base_dataset(spec).num_classes:
        st.session_state[state.IMBALANCE] = (cls, frac)
        for key in state.IMBALANCE_WIDGETS:  # the controls start from it
            st.session_state.pop(key, None)


def sync_url(*, every: bool = False) -> None:
    """Write the current choices into the URL: what changed, at the end of every run, or `every`
    one of them, at the start of every run. A sidebar link drops the browser's query string, and
    a run that is interrupted (a rerun) may never deliver what it wrote, while the server's copy
    already says the URL holds it: written only on change, the next F5 would lose the data set."""
    wanted = params_for(
        cache.current_spec(), st.session_state.get(state.IMBALANCE), st.session_state.get(state.AUGMENT)
    )
    current = {k: v for k, v in st.query_params.to_dict().items() if k in KEYS}
    if current == wanted and not every:
        return
    for key in [k for k in current if k not in wanted]:
        del st.query_params[key]
    for key, value in wanted.items():
        if every or current.get(key) != value:
            st.query_params[key] = value
