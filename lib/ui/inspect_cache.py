"""Caches for Look inside: everything keyed by (store root, run id, the run folder's stamp),
so a replaced run is recomputed and nothing is ever retrained.

The model itself is lib.ui.cache.run_model (st.cache_resource, shared). Arrays and tables are
st.cache_data; the preprocessing function holds a fitted ImageDataGenerator: st.cache_resource.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from lib.data.dataset import Dataset
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


@st.cache_data(max_entries=4, show_spinner="Computing the penultimate features of the test images…")
def _features(root: str, run_id: str, stamp: float, fingerprint: str, _ds: Dataset) -> np.ndarray:
    from lib.evaluate.embedding import features

    x = preprocessor(root, run_id, _ds)(_ds.x_test)
    return features(cache.run_model(root, run_id), x)


def test_features(root: str, run_id: str, ds: Dataset) -> np.ndarray:
    return _features(root, run_id, _stamp(root, run_id), ds.fingerprint, ds)


@st.cache_data(max_entries=8, show_spinner="Projecting…")
def _projection(root: str, run_id: str, stamp: float, fingerprint: str, method: str, _ds: Dataset):
    from lib.evaluate.embedding import embedding_table, pca_2d, tsne_2d

    feats = _features(root, run_id, stamp, fingerprint, _ds)
    run = cache.stored_run(root, run_id)
    if method == "t-SNE":
        coords, note = tsne_2d(feats, seed=0), "t-SNE (perplexity ≤ 30, seed 0)"
    else:
        coords, share = pca_2d(feats)
        note = f"PCA: the two components explain {share[0]:.0%} and {share[1]:.0%} of the variance"
    table = embedding_table(coords, run.y_true, run.y_prob, run.class_names, _ds.x_test)
    return table, note


def projection(root: str, run_id: str, ds: Dataset, method: str) -> tuple[pd.DataFrame, str]:
    """(embedding table, a caption) for "PCA" or "t-SNE", cached by run id and method."""
    return _projection(root, run_id, _stamp(root, run_id), ds.fingerprint, method, ds)


@st.cache_data(max_entries=4, show_spinner="Writing the HTML report…")
def _report(root: str, run_id: str, stamp: float, fingerprint: str, _ds: Dataset) -> str:
    from lib.runs.report_html import build_report

    return build_report(cache.stored_run(root, run_id), _ds.x_test)


def report(root: str, run_id: str, ds: Dataset) -> str:
    return _report(root, run_id, _stamp(root, run_id), ds.fingerprint, ds)
