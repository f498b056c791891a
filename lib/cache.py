"""The thin Streamlit caching layer over lib.data.

Datasets are `st.cache_resource`: one shared read-only copy (arrays are not writeable),
instead of `st.cache_data`'s pickle round trip of tens of megabytes on every rerun.
"""

from __future__ import annotations

import streamlit as st

from lib import state
from lib.data import DatasetSpec, load_dataset
from lib.dataset import Dataset, subsample_class

DEFAULT_SPEC = DatasetSpec("digits")


@st.cache_resource(max_entries=6, show_spinner="Loading dataset…")
def dataset(spec: DatasetSpec, _data: bytes | None = None, _loaded: Dataset | None = None) -> Dataset:
    # spec (with upload_digest) is the whole cache key. _loaded: a dataset the caller
    # already loaded with a progress bar, which a cached function must not draw
    # (Streamlit cannot replay elements drawn into blocks made outside it).
    return _loaded if _loaded is not None else load_dataset(spec, data=_data)


@st.cache_resource(max_entries=6, show_spinner=False)
def imbalanced(spec: DatasetSpec, class_index: int, keep_fraction: float) -> Dataset:
    return subsample_class(base_dataset(spec), class_index, keep_fraction)


def base_dataset(spec: DatasetSpec) -> Dataset:
    uploads = st.session_state.get(state.UPLOADED_NPZ, {})
    return dataset(spec, uploads.get(spec.upload_digest) if spec.upload_digest else None)


def current_spec() -> DatasetSpec:
    return st.session_state.setdefault(state.DATASET_SPEC, DEFAULT_SPEC)


def current_dataset() -> Dataset:
    """The dataset every page works on: the chosen source, with any imbalance applied."""
    spec = current_spec()
    imbalance = st.session_state.get(state.IMBALANCE)
    if imbalance and imbalance[1] < 1:
        return imbalanced(spec, *imbalance)
    return base_dataset(spec)
