"""The "Your images" source in the sidebar: a saved set to use (or delete), and three ways to
make one: a folder chosen in the browser, a ZIP of such a folder, or pictures taken class by
class with the camera (or picked from files) in a dialog. lib.data.picture_sets does the work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st

from lib.data.dataset import Dataset
from lib.data.picture_sets import (
    Ingested,
    PictureBudget,
    check_picture,
    clean_class_name,
    delete_set,
    ingest_classes,
    ingest_files,
    ingest_zip,
    list_sets,
    thumbnail,
)
from lib.data.sources import DatasetSpec
from lib.errors import ExplorerError, one_line
from lib.i18n import N_, _
from lib.ui import cache, state
from lib.ui.text import md

IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"]
WAYS = {"folder": N_("a folder"), "zip": N_("a ZIP file"), "classes": N_("class by class (camera)")}
_PENDING = "images_pending"  # (spec, Dataset) saved by this session: used on the next run
_DELETED = "images_deleted"  # the set this session just deleted: its choice is cleared next run
_MEMO = "images_memo"  # {upload key: DatasetSpec | one-line failure}: a rerun never reads an upload again
_UPLOADS = "images_uploads"  # how many uploads this session saved: a new one gets empty uploaders
_SAVED = "images_saved"  # an upload was saved last run: the name field starts empty again


@dataclass(frozen=True)
class Picture:
    digest: str
    file_name: str
    data: bytes
    thumb: np.ndarray


def your_images_ui() -> tuple[DatasetSpec | None, Dataset | None]:
    """The spec of the saved set chosen (and its Dataset when this session just made it)."""
    sb = st.sidebar
    pending = st.session_state.pop(_PENDING, None)
    if pending is not None:
        st.session_state[state.IMAGES_SET] = pending[0].path  # before the selectbox is drawn
    deleted = st.session_state.pop(_DELETED, None)
    if deleted is not None and st.session_state.get(state.IMAGES_SET) == deleted:
        # Set, not popped: a value set here is sent to the browser, which otherwise keeps
        # showing the deleted set's name in the box.
        st.session_state[state.IMAGES_SET] = None
    sets = {s.name: s for s in list_sets()}
    options = list(sets)
    wanted = st.session_state.get(state.IMAGES_SET)
    if wanted and wanted not in sets:
        options.append(wanted)  # a link to a set that is gone: loading it says so
    requested = None
    if options:
        # The box shows the title only (a sidebar is too narrow for more: the hash was cut); a title
        # two sets share gets its hash's end. The count and the whole hash are in a caption below.
        titles = [s.title for s in sets.values()]
        name = sb.selectbox(
            _("Saved set"),
            options,
            # Right after a delete nothing is picked: the session stays on the default data set
            # instead of loading someone else's set. (With a key, `index` only sets the start.)
            index=None if deleted is not None else 0,
            placeholder=_("Choose a saved set"),
            format_func=lambda n: (
                (sets[n].title if titles.count(sets[n].title) == 1 else f"{sets[n].title} · {n[-4:]}")
                if n in sets
                else n
            ),
            key=state.IMAGES_SET,
        )
        requested = DatasetSpec("images", name) if name is not None else None
        if name in sets:
            sb.caption(_("{n} pictures · set {id}").format(n=sets[name].pictures, id=name[-10:]))
            _delete_ui(name, sets[name].title)
    else:
        sb.caption(_("No saved sets yet. Add your pictures below."))
    with sb.expander(_("Add your pictures"), expanded=not options):
        _add_ui()
    if pending is not None:
        return pending
    return requested, None


def _add_ui() -> None:
    if st.session_state.pop(_SAVED, False):
        # Saved: the next set starts from an empty name and empty uploaders (a new name typed
        # over the old one must not save the same upload again under it). Set, not popped: a
        # value set here is sent to the browser, which otherwise keeps showing the old name.
        st.session_state["images_title"] = ""
    uploads = st.session_state.get(_UPLOADS, 0)
    title = st.text_input(_("Name of the new set"), key="images_title", max_chars=40, placeholder=_("my pets"))
    way = st.radio(_("From"), list(WAYS), format_func=lambda code: _(WAYS[code]), key="images_way")
    slot = st.empty()  # the progress, above the uploader: below it, it is off screen at 1024x768
    if way == "folder":
        files = st.file_uploader(
            _("A folder with one folder per class"),
            accept_multiple_files="directory",
            type=IMAGE_TYPES,
            key=f"images_folder_{uploads}",
            help=_("folder/<class>/pictures, or folder/train/<class>/… and folder/test/<class>/…"),
        )
        if files:
            key = ("folder", title, tuple(f.file_id for f in files))
            _ingest_once(
                key,
                slot,
                lambda progress: ingest_files(
                    [(f.name, f.getvalue()) for f in files], title or _top(files), progress=progress
                ),
            )
    elif way == "zip":
        upload = st.file_uploader(_("A ZIP of such a folder"), type=["zip"], key=f"images_zip_{uploads}")
        if upload is not None:
            key = ("zip", title, upload.file_id)
            stem = upload.name.rsplit(".", 1)[0]
            _ingest_once(key, slot, lambda progress: ingest_zip(upload.getvalue(), title or stem, progress=progress))
    else:
        st.caption(_("Type a class name, take pictures of it, then add the next class (at least 2)."))
        if st.button(_("Take pictures class by class…"), key="images_open_classes"):
            _class_by_class_dialog()


def _top(files: list) -> str:
    """A folder upload's own name ('photos' of 'photos/cats/1.jpg'): the set's name by default."""
    first = files[0].name.replace("\\", "/")
    return first.split("/", 1)[0] if "/" in first else "my images"


def _ingest_once(key: tuple, slot, work: Callable[[Callable[[str, int, int], None]], Ingested]) -> None:
    """Save an upload as a set once (a rerun with the same upload does nothing), its progress
    and a failure shown in `slot`."""
    memo: dict = st.session_state.setdefault(_MEMO, {})
    if key in memo:
        if isinstance(memo[key], str):
            slot.error(md(memo[key]))
        return
    bar = slot.progress(0.0, text=_("Checking your pictures…"))

    def progress(stage: str, done: int, total: int) -> None:
        text = (
            _("Checking your pictures: {done}/{total} files")
            if stage == "read"
            else _("Loading your pictures: {done}/{total} images")
        ).format(done=f"{done:,}", total=f"{total:,}")
        bar.progress(done / max(total, 1), text=text)

    try:
        result = work(progress)
    except ExplorerError as exc:
        memo[key] = _("Your pictures were not saved: {reason}").format(reason=one_line(exc))
        slot.error(md(memo[key]))
        return
    spec = DatasetSpec("images", result.saved.name)
    memo[key] = spec
    st.session_state[_PENDING] = (spec, result.dataset)
    st.session_state[_UPLOADS] = st.session_state.get(_UPLOADS, 0) + 1
    st.session_state[_SAVED] = True
    st.rerun()


def _delete_ui(name: str, title: str) -> None:
    with st.sidebar.popover(_("Delete this set")):
        st.write(_("Delete '{title}' for everyone on this server? Runs trained on it stay.").format(title=md(title)))
        if st.button(_("Delete the set"), type="primary", key="images_delete"):
            try:
                delete_set(name)
            except ExplorerError as exc:
                st.error(md(one_line(exc)))
                return
            if cache.current_spec() == DatasetSpec("images", name):
                st.session_state[state.DATASET_SPEC] = cache.DEFAULT_SPEC
                st.session_state[state.IMBALANCE] = None
            st.session_state[_DELETED] = name
            st.session_state.pop(_MEMO, None)  # the same upload may be saved again
            st.rerun()


# --- class by class ------------------------------------------------------------------------------


def _classes() -> dict[str, list[Picture]]:
    return st.session_state.setdefault(state.CLASS_BY_CLASS, {})


def _add_picture(cls: str, file_name: str, data: bytes) -> None:
    pictures = _classes().setdefault(cls, [])
    budget = PictureBudget()
    total = sum(len(p.data) for pics in _classes().values() for p in pics)
    if total + len(data) > budget.max_bytes or sum(map(len, _classes().values())) >= budget.max_files:
        st.session_state["cbc_message"] = _("That is as many pictures as one set can hold.")
        return
    digest = hashlib.sha256(data).hexdigest()
    already = next((c for c, pics in _classes().items() if any(p.digest == digest for p in pics)), None)
    if already is not None:  # the same bytes twice (a still camera, the same file): kept once
        st.session_state["cbc_message"] = _("That picture is already in '{name}'.").format(name=already)
        return
    try:
        check_picture(data)
        thumb = thumbnail(data)
    except ExplorerError as exc:
        st.session_state["cbc_message"] = _("{file}: {reason}").format(file=file_name, reason=one_line(exc))
        return
    pictures.append(Picture(digest, file_name, data, thumb))


def _took_picture(key: str, cls: str) -> None:
    photo = st.session_state.get(key)
    if photo is not None:
        _add_picture(cls, "camera.jpg", photo.getvalue())
        st.session_state["cbc_round"] = (
            st.session_state.get("cbc_round", 0) + 1
        )  # a fresh camera: one press, one picture


def _added_files(key: str, cls: str) -> None:
    for f in st.session_state.get(key) or []:
        _add_picture(cls, f.name, f.getvalue())
    st.session_state["cbc_files_round"] = st.session_state.get("cbc_files_round", 0) + 1


def _remove(cls: str, digest: str) -> None:
    _classes()[cls] = [p for p in _classes().get(cls, []) if p.digest != digest]


def _new_class() -> None:
    try:
        name = clean_class_name(st.session_state.get("cbc_new_class", ""))
    except ExplorerError as exc:
        st.session_state["cbc_message"] = one_line(exc)
        return
    _classes().setdefault(name, [])
    st.session_state["cbc_class"] = name
    st.session_state["cbc_new_class"] = ""


def _drop_class(cls: str) -> None:
    _classes().pop(cls, None)
    st.session_state.pop("cbc_class", None)


@st.dialog("Your images, class by class", width="large")  # fixed at import: stays English
def _class_by_class_dialog() -> None:
    classes = _classes()
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    c1.text_input(_("Class name"), key="cbc_new_class", placeholder=_("for example: cat"))
    c2.button(_("Add class"), key="cbc_add_class", on_click=_new_class)
    message = st.session_state.pop("cbc_message", None)
    if message:
        st.warning(md(message))
    if not classes:
        st.caption(_("Type the first class name and press Add class."))
        return
    names = list(classes)
    current = st.session_state.get("cbc_class")
    current = current if current in classes else names[0]
    # The radio's key names the classes (not the choice): a new class makes a new radio that
    # starts on it; picking keeps the key. (A keyed radio whose options change starts over at 0.)
    cls = st.radio(
        _("Pictures go to"),
        names,
        index=names.index(current),
        format_func=md,
        key="cbc_pick_" + hashlib.sha256("\x00".join(names).encode()).hexdigest()[:12],
        horizontal=True,
    )
    st.session_state["cbc_class"] = cls
    st.caption(" · ".join(f"{md(c)}: {len(p)}" for c, p in classes.items()))
    # The camera and the file picker get a fresh key after each picture: one press takes one
    # picture, with no "Clear photo" in between.
    camera_key = f"cbc_camera_{st.session_state.get('cbc_round', 0)}"
    files_key = f"cbc_files_{st.session_state.get('cbc_files_round', 0)}"
    left, right = st.columns(2)  # the camera beside what it took: Save stays on a projector's screen
    with left:
        st.camera_input(_("Take a picture"), key=camera_key, on_change=_took_picture, args=(camera_key, cls))
        st.file_uploader(
            _("…or add picture files"),
            accept_multiple_files=True,
            type=IMAGE_TYPES,
            key=files_key,
            on_change=_added_files,
            args=(files_key, cls),
        )
    with right:
        pictures = classes[cls]
        st.caption(_("{n} picture(s) of '{name}'. Each class needs at least 2.").format(n=len(pictures), name=md(cls)))
        columns = st.columns(4)
        for i, picture in enumerate(pictures):
            with columns[i % 4]:
                st.image(picture.thumb, width=72)
                st.button(
                    _("Remove"),
                    key=f"cbc_remove_{cls}_{picture.digest[:16]}",
                    on_click=_remove,
                    args=(cls, picture.digest),
                )
        st.button(_("Remove this class"), key="cbc_drop_class", on_click=_drop_class, args=(cls,))
    st.divider()
    ready = [c for c, pics in classes.items() if len(pics) >= 2]
    title = st.text_input(_("Name of the set"), key="cbc_title", max_chars=40, placeholder=_("my classes"))
    if len(ready) < 2 or len(ready) < len(classes):
        st.caption(_("Save needs at least 2 classes, each with 2 pictures or more."))
    if st.button(
        _("Save as a data set"), type="primary", key="cbc_save", disabled=len(ready) < 2 or len(ready) < len(classes)
    ):
        bar = st.progress(0.0, text=_("Saving your pictures…"))
        try:
            result = ingest_classes(
                {c: [(p.file_name, p.data) for p in pics] for c, pics in classes.items()},
                title or "my classes",
                progress=lambda stage, done, total: bar.progress(
                    done / max(total, 1),
                    text=(
                        _("Saving your pictures: {done}/{total}")
                        if stage == "read"
                        else _("Loading your pictures: {done}/{total}")
                    ).format(done=f"{done:,}", total=f"{total:,}"),
                ),
            )
        except ExplorerError as exc:
            bar.empty()
            st.error(md(_("Your pictures were not saved: {reason}").format(reason=one_line(exc))))
            return
        st.session_state[_PENDING] = (DatasetSpec("images", result.saved.name), result.dataset)
        st.session_state.pop(state.CLASS_BY_CLASS, None)
        st.session_state.pop("cbc_class", None)
        st.rerun()
