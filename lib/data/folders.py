"""Load a folder of images in Keras' `flow_from_directory` layout into a Dataset.

Two layouts: `root/<class>/*` (we split, stratified, fixed seed) and
`root/train/<class>/*` + `root/test/<class>/*`, where `validation/` (or `val/`, `valid/`)
stands in for a missing `test/` or, beside `test/`, joins the training split (with a note).
Two passes: the first reads only headers (size, mode) to choose one target size and channel
count, the second decodes straight into a preallocated uint8 array, so peak memory stays near
the uint8 size of the result.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lib.data import decode
from lib.data.dataset import Dataset, DatasetError, stratified_split
from lib.data.paths import inside_root, printable
from lib.errors import one_line
from lib.i18n import N_, Deferred, _

# Larger images are decoded reduced (JPEG draft) or refused (lib.data.decode, the one
# picture gate): a 10,000 x 10,000 photo must not take gigabytes to become a thumbnail.
MAX_PIXELS = decode.MAX_PIXELS
MAX_SIDE = 224  # target size cap for folders of mixed photo sizes

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class _Entry:
    path: Path
    label: int
    split: str  # "train", "test" or "all"
    size: tuple[int, int]  # (width, height)
    colour: bool


@dataclass
class Predecoded:
    """Pictures the caller has decoded already, the way `_try_decode` would without resizing:
    row `rows[path]` of `buffer` (uint8, one shape for all). The loader owns the buffer once
    given it: when every picture is in it at the size and channels chosen, its rows are
    rearranged in place and become the Dataset's arrays."""

    buffer: np.ndarray | None
    rows: dict[Path, int]

    def take(self, size: tuple[int, int], channels: int, paths: list[Path]) -> np.ndarray | None:
        """The buffer when it holds exactly `paths` at this size and channels, else None; either
        way this object lets go of it (a buffer not used is freed before the loader decodes)."""
        buffer, self.buffer = self.buffer, None
        if buffer is None or buffer.shape[1:] != (size[1], size[0], channels) or len(self.rows) != len(paths):
            return None
        return buffer if all(p in self.rows for p in paths) else None


def load_image_folder(
    root: str | Path,
    *,
    target_size: tuple[int, int] | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    progress: Progress | None = None,
    headers: Mapping[Path, decode.ImageHeader] | None = None,
    decoded: Predecoded | None = None,
) -> Dataset:
    """`headers`: pictures this process has just written and read through the gate's header check
    (a saved set of your images, lib.data.picture_sets); they are not read again, nor resolved.
    `decoded`: some of them already decoded from memory; used where their size and channels are
    the ones chosen here, any other is decoded from disk."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(_("not a folder: {root}").format(root=root))
    try:
        layout, class_dirs, layout_notes = _find_layout(root)
    except OSError as exc:  # a folder that cannot be listed (permission denied, vanished)
        raise DatasetError(
            _("{root} cannot be read: {reason}").format(root=printable(root), reason=exc.strerror or type(exc).__name__)
        ) from None
    # Folder names that are not valid UTF-8 are shown (and hashed) with U+FFFD in their place.
    class_names = sorted({printable(d.name) for dirs in class_dirs.values() for d in dirs})
    notes: list[str] = list(layout_notes)

    entries: list[_Entry] = []
    skipped: list[str] = []
    hidden: list[str] = []
    for split, dirs in class_dirs.items():
        for d in dirs:
            for path in _image_files(d, root, skipped, hidden, headers or {}):
                known = headers.get(path) if headers else None
                if known is not None:
                    entries.append(_Entry(path, class_names.index(printable(d.name)), split, known.size, known.colour))
                    continue
                if not inside_root(path):
                    skipped.append(f"{printable(path.relative_to(root))} (a link that leads outside the data folder)")
                    continue
                entry, reason = _read_header(path, class_names.index(printable(d.name)), split)
                if entry is None:
                    skipped.append(f"{printable(path.relative_to(root))} ({reason})")
                else:
                    entries.append(entry)

    if hidden:
        more = ", …" if len(hidden) > 5 else ""
        names = ", ".join(hidden[:5]) + more
        notes.append(Deferred(N_("hidden folders were left out ({n}): {names}"), n=len(hidden), names=names))
    empty = [n for i, n in enumerate(class_names) if not any(e.label == i for e in entries)]
    if empty:
        notes.append(Deferred(N_("classes with no readable images were dropped: {names}"), names=", ".join(empty)))
        keep = [n for n in class_names if n not in empty]
        remap = {class_names.index(n): i for i, n in enumerate(keep)}
        entries = [_Entry(e.path, remap[e.label], e.split, e.size, e.colour) for e in entries if e.label in remap]
        class_names = keep
    if len(class_names) < 2:
        raise DatasetError(
            _("found {n} class folder(s) with readable images in {root}; a classifier needs at least 2").format(
                n=len(class_names), root=root
            )
        )

    size = target_size or _choose_size(entries)
    channels = 3 if any(e.colour for e in entries) else 1
    sizes = Counter(e.size for e in entries)
    if len(sizes) > 1 or size != next(iter(sizes)):
        notes.append(
            Deferred(
                N_("images of {n} different sizes were resized to {size}"), n=len(sizes), size=f"{size[0]}x{size[1]}"
            )
        )
    if channels == 3 and not all(e.colour for e in entries):
        notes.append(Deferred(N_("grayscale images were converted to RGB so all images have 3 channels")))

    labels = np.array([e.label for e in entries], dtype=np.int64)
    if layout == "split":
        is_test = np.array([e.split == "test" for e in entries])
        train_idx, test_idx = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    else:
        # Split on the labels known from the headers, so each image is decoded straight
        # into its final array: no fancy-index copy of the whole dataset afterwards.
        train_idx, test_idx = stratified_split(labels, test_fraction, seed)
        notes.append(
            Deferred(
                N_("split {train} train / {test} test per class (seed {seed})"),
                train=f"{1 - test_fraction:.0%}",
                test=f"{test_fraction:.0%}",
                seed=seed,
            )
        )

    done = [0]
    given = decoded.take(size, channels, [e.path for e in entries]) if decoded is not None else None
    if given is not None:
        # Every picture is decoded already: its rows put in the Dataset's order, no copy.
        order = np.concatenate([train_idx, test_idx])
        x = _arrange_rows(given, np.array([decoded.rows[entries[i].path] for i in order], dtype=np.int64))
        if progress:
            progress(len(entries), len(entries))
        n_train = len(train_idx)
        x_train, x_test = x[:n_train], x[n_train:]
        return _dataset(root, x_train, labels[train_idx], x_test, labels[test_idx], class_names, notes, skipped)

    def decode_into(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.empty((len(indices), size[1], size[0], channels), dtype=np.uint8)
        y = np.empty(len(indices), dtype=np.int64)
        n = 0  # next free row: unreadable files leave no gap, so no copy is needed to drop them
        # Pillow decodes without the GIL: a few threads use every core. A chunk at a time, so
        # only a chunk's decoded pictures are held beside the array.
        for start in range(0, len(indices), _CHUNK):
            chunk = [entries[i] for i in indices[start : start + _CHUNK]]
            results = _pool().map(_try_decode, chunk, [size] * len(chunk), [channels] * len(chunk))
            for e, result in zip(chunk, results, strict=True):
                if isinstance(result, Exception):  # truncated or corrupt data only shows when decoding
                    skipped.append(f"{printable(e.path.relative_to(root))} ({_reason(result)})")
                else:
                    x[n] = result
                    y[n] = e.label
                    n += 1
                done[0] += 1
                if progress and (done[0] % 25 == 0 or done[0] == len(entries)):
                    progress(done[0], len(entries))
        return x[:n], y[:n]

    x_train, y_train = decode_into(train_idx)
    x_test, y_test = decode_into(test_idx)
    return _dataset(root, x_train, y_train, x_test, y_test, class_names, notes, skipped)


def _dataset(
    root: Path,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    class_names: list[str],
    notes: list[str],
    skipped: list[str],
) -> Dataset:
    if skipped:
        files = "; ".join(skipped[:10]) + ("; …" if len(skipped) > 10 else "")
        notes.append(Deferred(N_("skipped {n} unreadable file(s): {files}"), n=len(skipped), files=files))
    if len(x_test) == 0:
        raise DatasetError(_("no test images: add a test/ folder or more images per class"))
    return Dataset(
        name=printable(root.name),
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=tuple(class_names),
        notes=tuple(notes),
    )


def _arrange_rows(buffer: np.ndarray, order: np.ndarray) -> np.ndarray:
    """buffer[:n] rearranged in place so that row j holds what row order[j] held (order: a
    permutation of 0..n-1), following each cycle with one spare row: no second copy."""
    n = len(order)
    placed = np.zeros(n, dtype=bool)
    spare = np.empty_like(buffer[0])
    for start in range(n):
        if placed[start]:
            continue
        placed[start] = True
        if order[start] == start:
            continue
        spare[...] = buffer[start]
        j = start
        while order[j] != start:
            buffer[j] = buffer[order[j]]
            j = int(order[j])
            placed[j] = True
        buffer[j] = spare
    return buffer[:n]


def _image_files(
    folder: Path, root: Path, skipped: list[str], hidden: list[str], written: Mapping[Path, object]
) -> list[Path]:
    """Files under a class folder, sorted; hidden files and folders (`.ipynb_checkpoints`) are
    left out, and sub-folders that cannot be listed are named in `skipped`. Files in `written`
    (just written as regular files by this process) are not stat()ed again."""
    found: list[Path] = []

    def walk_error(exc: OSError) -> None:
        where = Path(exc.filename or folder)
        shown = where.relative_to(root) if where.is_relative_to(root) else where
        skipped.append(f"{printable(shown)} (a folder that cannot be read: {exc.strerror or type(exc).__name__})")

    for dirpath, dirnames, filenames in os.walk(folder, onerror=walk_error, followlinks=False):
        hidden.extend(printable((Path(dirpath) / d).relative_to(root)) for d in dirnames if d.startswith("."))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            path = Path(dirpath) / name
            if name.startswith("."):
                continue
            if path in written:
                found.append(path)
                continue
            try:
                if path.is_file():
                    found.append(path)
            except OSError as exc:  # cannot be stat()ed: permission denied, a name too long
                skipped.append(f"{printable(path.relative_to(root))} ({exc.strerror or type(exc).__name__})")
    return sorted(found)


# Folder names TensorFlow's tutorials and Kaggle sets use for a validation split.
VALIDATION_NAMES = ("validation", "val", "valid")


def _folders(parent: Path, outside: list[str], root: Path) -> list[Path]:
    """The visible sub-folders of `parent`, sorted. A folder that is a link leading out of
    the data root is never listed: only its own name goes into `outside`."""
    found = []
    for d in sorted(parent.iterdir()):
        if d.name.startswith(".") or not d.is_dir():
            continue
        if not inside_root(d):
            outside.append(printable(d.relative_to(root)))
            continue
        found.append(d)
    return found


def _find_layout(root: Path) -> tuple[str, dict[str, list[Path]], list[str]]:
    """(layout, {split: class folders}, notes saying which split folders were used how)."""
    outside: list[str] = []
    layout, split, notes = _layout(root, outside)
    if outside:
        names = ", ".join(outside[:5]) + (", …" if len(outside) > 5 else "")
        notes.append(
            Deferred(
                N_("folders that are links leading outside the data folder were left out ({n}): {names}"),
                n=len(outside),
                names=names,
            )
        )
    return layout, split, notes


def _layout(root: Path, outside: list[str]) -> tuple[str, dict[str, list[Path]], list[str]]:
    subdirs = _folders(root, outside, root)
    names = {d.name for d in subdirs}
    validation = next((v for v in VALIDATION_NAMES if v in names), None)
    if "train" in names and ("test" in names or validation):
        classes = {s: _folders(root / s, outside, root) for s in ("train", "test", validation) if s and s in names}
        if not classes["train"]:
            raise DatasetError(_("{folder} has no class folders").format(folder=root / "train"))
        notes = []
        if "test" in names and validation:
            # Validation here is taken from the training split at training time, so a given
            # validation folder joins the training images rather than being left out.
            split = {"train": classes["train"] + classes[validation], "test": classes["test"]}
            notes.append(
                Deferred(
                    N_("layout train/ + {folder}/ + test/: {folder}/ images joined the training split"),
                    folder=validation,
                )
            )
        elif validation:
            split = {"train": classes["train"], "test": classes[validation]}
            notes.append(
                Deferred(
                    N_("layout train/ + {folder}/ (no test/): {folder}/ is used as the test split"), folder=validation
                )
            )
        else:
            split = {"train": classes["train"], "test": classes["test"]}
        others = sorted(names - {"train", "test", *VALIDATION_NAMES})
        if others:
            names = ", ".join(printable(o) for o in others)
            notes.append(Deferred(N_("folders beside the splits were left out: {names}"), names=names))
        return "split", split, notes
    if not subdirs:
        raise DatasetError(_("{root} has no class folders: expected root/<class>/image files").format(root=root))
    return "single", {"all": subdirs}, []


def _read_header(path: Path, label: int, split: str) -> tuple[_Entry | None, str]:
    try:
        header = decode.read_header(path, reducible=True)
    except Exception as exc:
        return None, _reason(exc)
    return _Entry(path, label, split, header.size, header.colour), ""


def _choose_size(entries: list[_Entry]) -> tuple[int, int]:
    """The most common size, capped at MAX_SIDE (keeping the aspect ratio)."""
    w, h = Counter(e.size for e in entries).most_common(1)[0][0]
    scale = min(1.0, MAX_SIDE / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


_CHUNK = 64
_POOL: list[ThreadPoolExecutor] = []


def _pool() -> ThreadPoolExecutor:
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=decode_workers(), thread_name_prefix="decode"))
    return _POOL[0]


def decode_workers() -> int:
    """Threads (or, for a large upload, processes: lib.data.gate_processes) that decode pictures,
    one a core, at most 4. Pillow's C decoding and resizing run without the GIL, which pays off for
    photos; a small picture's work is mostly Python, which threads only take turns at."""
    return min(4, os.cpu_count() or 1)


def _try_decode(e: _Entry, size: tuple[int, int], channels: int) -> np.ndarray | Exception:
    try:
        return _decode(e.path, size, channels)
    except Exception as exc:
        return exc


def _decode(path: Path, size: tuple[int, int], channels: int) -> np.ndarray:
    return decode.decode_to_array(path, size, channels)


def _reason(exc: Exception) -> str:
    text = one_line(exc, 120)
    if "cannot identify image file" in text:
        return "not an image"
    return text[:120]
