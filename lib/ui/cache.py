"""The thin Streamlit caching layer over lib.data.

Datasets are `st.cache_resource`: one shared read-only copy (arrays are not writeable),
instead of `st.cache_data`'s pickle round trip of tens of megabytes on every rerun.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

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
