"""A training through the server's training pool, followed on the page (used by the study;
the Train button's loop on Train & Evaluate does the same with its live charts)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lib.data.dataset import Dataset
from lib.i18n import _
from lib.runs.train_or_load import Outcome
from lib.train.settings import TrainSettings
from lib.ui import cache, state


def leave_previous(key: str) -> None:
    """A rerun (a click anywhere) stopped the script run that was following a training: leave it,
    so a training nobody watches stops within one batch."""
    previous = st.session_state.pop(key, None)
    if previous is not None:
        previous.detach()


def train_in_pool(
    ds: Dataset,
    settings: TrainSettings,
    dataset_label: str,
    root: str | Path,
    *,
    status_line,
    bar,
    key: str = state.STUDY_JOB,
    run_name: str = "",
    source: str = "",
) -> Outcome:
    """Submit to the pool (joining an identical training already running), show its queue place
    and batch progress in `status_line` and `bar` until it ends, and return its outcome (raises
    the training's ExplorerError)."""
    pool = cache.training_pool()
    handle = pool.submit(ds, settings, dataset_label, root, run_name, source)
    st.session_state[key] = handle  # the next run finds it if this one is stopped
    try:
        while not handle.wait(0.2):
            progress = handle.progress()
            status_line.caption(progress.describe(pool.workers))  # also where Streamlit delivers a click
            if progress.batch is not None:
                epoch, batch, steps = progress.batch
                bar.progress(
                    batch / steps,
                    text=_("epoch {epoch}/{epochs}: batch {batch}/{steps}").format(
                        epoch=epoch + 1, epochs=progress.epochs, batch=batch, steps=steps
                    ),
                )
    except BaseException:  # Streamlit stops this run (another widget, a closed tab): leave the training
        handle.detach()
        raise
    st.session_state.pop(key, None)
    handle.detach()
    return handle.outcome()
