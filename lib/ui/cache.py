"""The thin Streamlit caching layer over lib.data.

Datasets are `st.cache_resource`: one shared read-only copy (arrays are not writeable),
instead of `st.cache_data`'s pickle round trip of tens of megabytes on every rerun.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from lib import i18n
from lib.data.dataset import Dataset, subsample_class
from lib.data.sources import DatasetSpec, load_dataset
from lib.ui import state

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


@st.cache_resource(max_entries=8, show_spinner="Preparing the generator (fit on the training images if needed)…")
def fitted_generator(fingerprint: str, config_json: str, _x_train: np.ndarray) -> object:
    """An ImageDataGenerator for these settings, fitted once per dataset when featurewise
    settings need it (fingerprint + settings are the key; the images are not hashed)."""
    from lib.augment.settings import from_json, make_generator

    return make_generator(from_json(config_json), _x_train)


def store_root() -> str:
    from lib.runs.store import default_root

    return str(default_root())


def run_stamp(root: str, run_id: str) -> float:
    """Changes when a run folder is replaced (a complete run over a stopped one)."""
    from pathlib import Path

    try:
        return (Path(root) / run_id / "config.json").stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(max_entries=16, show_spinner=False)
def _stored_run(root: str, run_id: str, stamp: float):
    from lib.runs.store import RunStore

    return RunStore(root).load(run_id)


def stored_run(root: str, run_id: str):
    return _stored_run(root, run_id, run_stamp(root, run_id))


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def _run_model(root: str, run_id: str, stamp: float):
    from lib.runs.store import RunStore

    return RunStore(root).load(run_id).load_model()


def run_model(root: str, run_id: str):
    """The stored Keras model, shared (not copied) between reruns and sessions."""
    return _run_model(root, run_id, run_stamp(root, run_id))


@st.cache_resource(max_entries=8, show_spinner="Building the model…")
def model_summary(kind: str, input_shape: tuple, num_classes: int, transfer: tuple = (), stamp: float = 0.0):
    """(layer table, backbone layer table or None, (trainable, non-trainable) parameters).
    transfer = (mode, unfreeze, weights, store root) for backbones; stamp: the backbone run's."""
    from lib.train.models import build_model, summary_table
    from lib.train.transfer import backbone_layers_table, build_transfer_model, is_transfer, parameter_counts

    if is_transfer(kind):
        from lib.runs.store import RunStore

        mode, unfreeze, weights, root, *rest = transfer
        head, backbone_input = rest if rest else ("pool", "preprocess")
        model, _ = build_transfer_model(
            kind,
            input_shape,
            num_classes,
            mode=mode,
            unfreeze=unfreeze,
            weights=weights,
            store=RunStore(root),
            head=head,
            backbone_input=backbone_input,
        )
        return summary_table(model), backbone_layers_table(model), parameter_counts(model)
    model = build_model(kind, input_shape, num_classes)
    return summary_table(model), None, parameter_counts(model)


@st.cache_resource(show_spinner=False)
def training_pool():
    """The server's one pool of training worker processes, shared by every session
    (EXPLORER_TRAIN_WORKERS at once). Each training it finishes is logged on the server's stderr."""
    import logging
    import sys

    from lib.runs.workers import TrainingPool, log

    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s explorer: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return TrainingPool()


@st.cache_resource(show_spinner=False)
def mixed_policy() -> str:
    """The mixed-precision policy training would use on this machine (float16 on a GPU, bfloat16 on a CPU)."""
    from lib.train.accelerators import mixed_policy_name

    return mixed_policy_name()


# --- Charts and statistics that a rerun should not compute again ------------------------------


def run_key(run: Any) -> tuple:
    """What tells one state of a run from another (a stopped run later replaced by the complete
    one keeps its id): the cache key of the charts and figures drawn from it, instead of hashing
    its history and probabilities on every rerun."""
    return (run.run_id, run.status, len(run.history), int(run.y_true.size))


@st.cache_data(max_entries=512, show_spinner=False)
def _vega_lite_spec(name: str, key: tuple, room: bool, _args: tuple, _kwargs: dict, _build: Callable[..., Any]) -> dict:
    # Streamlit's own Altair -> Vega-Lite conversion (its data as Arrow-ready frames), done once per
    # builder and inputs: building and validating an Altair chart costs 30-150 ms a chart, which
    # every rerun of a page with several charts paid again for the same picture.
    from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec

    chart = _build(*_args, **_kwargs)
    if room:  # Present mode: the room's font sizes (lib.charts.for_room), its own cache entry
        from lib import charts

        chart = charts.for_room(chart)
    return _convert_altair_to_vega_lite_spec(chart)


def altair_chart(
    where: Any,
    build: Callable[..., Any],
    *args: Any,
    chart_kwargs: dict | None = None,
    cache_key: tuple | None = None,
    **st_kwargs: Any,
) -> Any:
    """`where.altair_chart(build(*args, **chart_kwargs), **st_kwargs)`, with the chart's spec cached
    by the builder and `cache_key` (or, without one, its inputs hashed by content). While
    presenting, the chart is drawn for the room (lib.ui.present.room)."""
    from lib.ui import present

    kwargs = chart_kwargs or {}
    # With a cache_key (a run standing for its history), the small arguments still tell two charts
    # of one run apart: "loss" and "accuracy" of one run once drew the loss chart twice.
    small = tuple(a for a in (*args, *sorted(kwargs.items())) if isinstance(a, str | int | float | bool | tuple))
    key = (cache_key, small) if cache_key is not None else (args, kwargs)
    key = (key, i18n.language())  # a builder's own titles are in the session's language: one spec per language
    spec = _vega_lite_spec(_name(build), key, present.presenting(), args, kwargs, build)
    return where.vega_lite_chart(spec=spec, **st_kwargs)


@st.cache_data(max_entries=16, show_spinner=False)
def dataset_statistics(fingerprint: str, _ds: Dataset) -> tuple[dict, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(summary, class counts, pixel statistics, train/test duplicates), computed once per data set
    content (the fingerprint is the key; the arrays are not hashed again): at CIFAR size the pixel
    statistics and the duplicate check take about a second."""
    from lib.data import stats

    return stats.summary(_ds), stats.class_counts(_ds), stats.pixel_stats(_ds), stats.duplicates_across_splits(_ds)


@st.cache_data(max_entries=256, show_spinner=False)
def _computed(name: str, key: tuple, _args: tuple, _kwargs: dict, _fn: Callable[..., Any]) -> Any:
    return _fn(*_args, **_kwargs)


def computed(fn: Callable[..., Any], *args: Any, cache_key: tuple | None = None, **kwargs: Any) -> Any:
    """fn(*args, **kwargs), computed once per function and `cache_key` (without one, its inputs
    hashed by content: a run's 10,000 x 10 probabilities hash in about a millisecond, its ROC
    curves take a hundred). With a key, the inputs may be unhashable (a Keras model)."""
    key = cache_key if cache_key is not None else (args, kwargs)
    return _computed(_name(fn), key, args, kwargs, fn)


def _name(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"  # the cache key's part for the function (not hashable itself)
