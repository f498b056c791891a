"""The shared sidebar: choose a dataset source, see which dataset is in use.

A failed load leaves the previous dataset in use and says why in one line.
"""

from __future__ import annotations

import hashlib

import streamlit as st

from lib.data.dataset import Dataset, DatasetError
from lib.data.sources import SOURCES, DatasetSpec, load_dataset
from lib.errors import one_line
from lib.i18n import _
from lib.ui import cache, state
from lib.ui.text import md
from lib.ui.url_state import apply_pending_imbalance, restore_from_url
from lib.ui.your_images import your_images_ui


def dataset_picker_ui() -> None:
    sb = st.sidebar
    from_url = restore_from_url()  # a reload or a shared link: the data set named in the URL
    sb.header(_("Dataset"))
    source = sb.selectbox(
        _("Source"), list(SOURCES), format_func=lambda kind: _(SOURCES[kind].title), key="source_choice"
    )
    asks_for = SOURCES[source].asks_for
    requested: DatasetSpec | None = None
    data: bytes | None = None
    loaded: Dataset | None = None  # a dataset the source's own UI has just made
    if asks_for == "folder":
        path = sb.text_input(
            _("Folder path"),
            key="folder_path",
            placeholder="/path/to/root",
            help=_("root/<class>/* (we split 80/20) or root/train/<class>/* + root/test/<class>/*"),
        )
        if (sb.button(_("Load folder"), key="load_folder") and path.strip()) or from_url is not None:
            requested = from_url or DatasetSpec("folder", path.strip())
    elif asks_for == "npz":
        upload = sb.file_uploader(_(".npz with X_train, y_train, X_test, y_test"), type=["npz"], key="npz_upload")
        path = sb.text_input(_("…or a local .npz path"), key="npz_path")
        if upload is not None:
            data = upload.getvalue()
            requested = DatasetSpec("npz", upload.name, hashlib.sha256(data).hexdigest())
        elif (sb.button(_("Load .npz"), key="load_npz") and path.strip()) or from_url is not None:
            requested = from_url or DatasetSpec("npz", path.strip())
    elif asks_for == "images":  # uploads and the camera: lib/ui/your_images.py
        requested, loaded = your_images_ui()
    else:
        requested = DatasetSpec(source)

    if requested is not None and requested != cache.current_spec():
        _switch_to(requested, data, loaded)
    elif requested is not None:  # the data set in use was chosen again: an older failure is over
        st.session_state.pop(state.LAST_LOAD_FAILURE, None)
    else:  # e.g. a link's data set was refused: the reason stays on every page, not only the first
        failed = st.session_state.get(state.LAST_LOAD_FAILURE)
        reason = st.session_state.get(state.DATASET_FAILURES, {}).get(failed)
        if reason:
            st.sidebar.error(md(reason))
    apply_pending_imbalance()
    _current_ui()


def _switch_to(spec: DatasetSpec, data: bytes | None, loaded: Dataset | None = None) -> None:
    failures: dict = st.session_state.setdefault(state.DATASET_FAILURES, {})
    if spec in failures:
        st.sidebar.error(md(failures[spec]))
        if st.sidebar.button(_("Try again"), key="retry_load"):
            failures.pop(spec)
            st.rerun()
        return
    try:
        if loaded is not None:
            loaded = cache.dataset(spec, data, loaded)
        elif SOURCES[spec.kind].reads_files:  # folders read file by file: show progress
            bar = st.sidebar.progress(0.0, text=_("Loading {name}…").format(name=md(spec.label)))
            try:
                fresh = load_dataset(
                    spec,
                    progress=lambda done, total: bar.progress(
                        done / max(total, 1),
                        text=_("Loading {name}: {done}/{total} images").format(
                            name=md(spec.label), done=done, total=total
                        ),
                    ),
                )
            finally:  # a failed load must not leave a stuck "Loading…" bar
                bar.empty()
            loaded = cache.dataset(spec, data, fresh)
        else:
            loaded = cache.dataset(spec, data)
    except DatasetError as exc:
        failures[spec] = _("Could not load {name}: {reason}. Still using {current}.").format(
            name=spec.label, reason=one_line(exc), current=cache.current_spec().label
        )
        st.session_state[state.LAST_LOAD_FAILURE] = spec
        st.sidebar.error(md(failures[spec]))
        return
    st.session_state.pop(state.LAST_LOAD_FAILURE, None)
    if data is not None:
        st.session_state[state.UPLOADED_NPZ] = {spec.upload_digest: data}
    st.session_state[state.DATASET_SPEC] = spec
    st.session_state[state.IMBALANCE] = None
    for key in state.IMBALANCE_WIDGETS:  # else the Dataset page's controls put the old imbalance back
        st.session_state.pop(key, None)
    count = len(loaded.x_train) + len(loaded.x_test)
    st.sidebar.success(_("Loaded {name}: {count} images").format(name=md(loaded.name), count=f"{count:,}"))


def _current_ui() -> None:
    try:
        ds = cache.current_dataset()
    except DatasetError as exc:  # e.g. a folder changed on disk since it was chosen
        st.sidebar.error(_("The current dataset can no longer be loaded: {reason}").format(reason=md(one_line(exc))))
        st.session_state[state.DATASET_SPEC] = cache.DEFAULT_SPEC
        st.session_state[state.IMBALANCE] = None
        ds = cache.current_dataset()
    h, w, c = ds.image_shape
    st.sidebar.markdown(
        _("**In use:** {name}  \n{classes} classes · {train} train · {test} test · {shape}  \n`{fingerprint}`").format(
            name=md(ds.name),
            classes=ds.num_classes,
            train=f"{len(ds.x_train):,}",
            test=f"{len(ds.x_test):,}",
            shape=f"{h}x{w}x{c}",
            fingerprint=ds.fingerprint[:12],
        )
    )
