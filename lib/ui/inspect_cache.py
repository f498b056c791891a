"""Caches for Look inside: everything keyed by (store root, run id, the run folder's stamp),
so a replaced run is recomputed and nothing is ever retrained.

The model itself is lib.ui.cache.run_model (st.cache_resource, shared). Arrays and tables are
st.cache_data; the preprocessing function holds a fitted ImageDataGenerator: st.cache_resource.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from lib import i18n
from lib.data.dataset import Dataset
from lib.i18n import _
from lib.ui import cache


def _stamp(root: str, run_id: str) -> float:
    return cache.run_stamp(root, run_id)


@st.cache_resource(max_entries=8, show_spinner=False)
def _preprocessor(root: str, run_id: str, stamp: float, fingerprint: str, _ds: Dataset):
    from lib.evaluate.try_image import evaluation_preprocessor

    return evaluation_preprocessor(cache.stored_run(root, run_id), _ds)


def preprocessor(root: str, run_id: str, ds: Dataset):
    """The run's evaluation preprocessing (uint8 batch -> model input), built once per run."""
    return _preprocessor(root, run_id, _stamp(root, run_id), ds.fingerprint, ds)


# Spinner texts are shown by the callers in the session's language (a decorator's text is fixed at import).
@st.cache_data(max_entries=4, show_spinner=False)
def _features(root: str, run_id: str, stamp: float, fingerprint: str, _ds: Dataset) -> np.ndarray:
    from lib.evaluate.embedding import features

    x = preprocessor(root, run_id, _ds)(_ds.x_test)
    return features(cache.run_model(root, run_id), x)


def test_features(root: str, run_id: str, ds: Dataset) -> np.ndarray:
    with st.spinner(_("Computing the penultimate features of the test images…")):
        return _features(root, run_id, _stamp(root, run_id), ds.fingerprint, ds)


@st.cache_data(max_entries=8, show_spinner=False)
def _projection(root: str, run_id: str, stamp: float, fingerprint: str, method: str, _ds: Dataset):
    from lib.evaluate.embedding import embedding_table, pca_2d, tsne_2d

    feats = _features(root, run_id, stamp, fingerprint, _ds)
    run = cache.stored_run(root, run_id)
    share = None
    if method == "t-SNE":
        coords = tsne_2d(feats, seed=0)
    else:
        coords, share = pca_2d(feats)
    table = embedding_table(coords, run.y_true, run.y_prob, run.class_names, _ds.x_test)
    return table, share  # numbers only: the cache is shared by sessions of every language


def projection(root: str, run_id: str, ds: Dataset, method: str) -> tuple[pd.DataFrame, str]:
    """(embedding table, a caption) for "PCA" or "t-SNE", cached by run id and method."""
    with st.spinner(_("Projecting…")):
        table, share = _projection(root, run_id, _stamp(root, run_id), ds.fingerprint, method, ds)
    if share is None:
        return table, _("t-SNE (perplexity ≤ 30, seed 0)")
    return table, _("PCA: the two components explain {first} and {second} of the variance").format(
        first=f"{share[0]:.0%}", second=f"{share[1]:.0%}"
    )


@st.cache_data(max_entries=4, show_spinner=False)
def _report(root: str, run_id: str, stamp: float, fingerprint: str, lang: str, _ds: Dataset) -> str:
    from lib.runs.report_html import build_report

    # The language is part of the key: the cache is shared by sessions of every language.
    return build_report(cache.stored_run(root, run_id), _ds.x_test, lang=lang)


def report(root: str, run_id: str, ds: Dataset) -> str:
    """The run's HTML report in the calling session's language, built once per run and language."""
    with st.spinner(_("Writing the HTML report…")):
        return _report(root, run_id, _stamp(root, run_id), ds.fingerprint, i18n.language(), ds)
