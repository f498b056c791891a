"""Your own pictures (a folder or a ZIP uploaded in the browser, or taken class by class with the
camera) saved as a folder data set under `<data root>/your-images/` and read back like any folder.

    <data root>/your-images/<name>-<hash>/<class>/<picture>          (or train|test/<class>/...)
    <data root>/your-images/<name>-<hash>/.set.json                  marks a set made here (deletable)

`<name>` is the user's name for the set, cleaned like run names; `<hash>` is a short hash of
the pictures' paths and bytes, so two students' sets never overwrite each other and the same
pictures under the same name are the same set. A set is written into a hidden temporary folder
and renamed into place when complete: nobody ever sees half a set. The pictures are stored as
uploaded and read back by `load_image_folder`, so a set gives the same Dataset (and the same
fingerprint: stored runs are reused) as the original folder read from disk.

Every picture goes through the one decoding gate (`lib.data.decode`): its header when it
arrives (a promised raster format, the pixel budget), before it is written, then its pixels.
Pictures the loader will not resize are decoded from the bytes already in memory as the files
arrive (`_Arrivals`, `_Decoded`) and handed to the folder loader; any other is decoded by the
loader from disk, the same way, so the Dataset is the same either way. A large upload is read,
gated, decoded and written by worker processes (`lib.data.gate_processes`: Pillow holds the
GIL for most of a small picture's work, so threads would only take turns).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import time
import unicodedata
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from lib.data import decode, gate_processes
from lib.data.dataset import Dataset, DatasetError
from lib.data.folders import MAX_SIDE, Predecoded, load_image_folder
from lib.data.names import clean_name
from lib.data.paths import data_root, printable
from lib.data.zip_archive import ArchiveBudget, ZipEntry, ZipReader, zip_entries
from lib.errors import ImageError, one_line
from lib.i18n import N_, Deferred, _, language, using

PLACE = "your-images"  # inside the data root
MARKER = ".set.json"
DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "sample_data"  # when no data root is set
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".rar", ".npz")
SPLIT_NAMES = ("train", "test", "validation", "val", "valid")
HASH_CHARS = 10
_SET_NAME = re.compile(rf"^[^./\\\x00][^/\\\x00]*-[0-9a-f]{{{HASH_CHARS}}}$")
TMP_PREFIX = ".tmp-"
OLD_PREFIX = ".old-"

# stage ("read": checking each file as it arrives; "load": decoding into arrays), done, total
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PictureBudget:
    """What one set may hold. The archive part applies to ZIPs; `max_bytes` to every upload."""

    archive: ArchiveBudget = field(default_factory=ArchiveBudget)
    max_files: int = 10_000
    max_bytes: int = 512 << 20  # the pictures' bytes, in all
    max_decoded_bytes: int = 1 << 30  # the Dataset's uint8 arrays, estimated from the headers
    max_pixels: int = decode.MAX_PIXELS  # per picture, from its header (the gate's budget)


@dataclass(frozen=True)
class Incoming:
    """One file as it arrived: its path inside the upload and how to get its bytes."""

    parts: tuple[str, ...]
    size: int
    read: Callable[[], bytes]
    name_repaired: bool = False
    member: ZipEntry | None = None  # a ZIP's member: a worker process may read it itself


@dataclass(frozen=True)
class SavedSet:
    name: str  # the folder name: the URL and the DatasetSpec carry it
    title: str  # the name the user gave
    pictures: int
    classes: tuple[str, ...]
    created: float


@dataclass(frozen=True)
class Ingested:
    saved: SavedSet
    dataset: Dataset | None  # None when the set was there already (load it through the cache)
    reused: bool  # the same upload (or the same pictures) was saved before: nothing written


# --- where sets live ---------------------------------------------------------------------------


def sets_place() -> Path:
    """`<data root>/your-images` (the data root a server's teacher sets; sample_data/ otherwise)."""
    return (data_root() or DEFAULT_ROOT) / PLACE


def set_path(name: str) -> Path:
    """The folder of a saved set, or DatasetError: only names this module makes, inside the place."""
    name = unicodedata.normalize("NFC", name)
    if not _SET_NAME.match(name):
        raise DatasetError(
            _("'{name}' is not the name of a saved set of your images").format(name=printable(name)[:80])
        )
    path = sets_place() / name
    if not (path / MARKER).is_file() or path.is_symlink():
        raise DatasetError(_("there is no saved set named '{name}' (deleted?)").format(name=printable(name)[:80]))
    return path


def list_sets() -> list[SavedSet]:
    """Every complete saved set, newest first (temporary folders of a save in progress are not listed)."""
    place = sets_place()
    _clean_stale(place)
    found: list[SavedSet] = []
    try:
        children = sorted(place.iterdir())
    except OSError:
        return []
    for child in children:
        if child.name.startswith(".") or not _SET_NAME.match(child.name):
            continue
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            found.append(_read_marker(child))
    return sorted(found, key=lambda s: (-s.created, s.name))


def load_picture_set(name: str, progress: Callable[[int, int], None] | None = None) -> Dataset:
    path = set_path(name)
    ds = load_image_folder(path, progress=progress)
    with contextlib.suppress(OSError, ValueError):
        notes = tuple(json.loads((path / MARKER).read_text("utf-8")).get("notes", ()))
        return replace(ds, notes=tuple(str(n) for n in notes) + ds.notes)
    return ds


def delete_set(name: str) -> None:
    """Remove a saved set (only sets made here: the marker says so). Renamed away first, so it
    disappears at once for everyone, then deleted."""
    path = set_path(name)
    trash = path.parent / f"{OLD_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        path.rename(trash)
    except OSError as exc:
        raise DatasetError(_("the set could not be deleted ({exc})").format(exc=one_line(exc))) from None
    shutil.rmtree(trash, ignore_errors=True)


def set_title_slug(title: str) -> str:
    """The user's name for a set as a folder name: cleaned like run names, no path characters."""
    cleaned = clean_name(title)
    slug = "".join(ch if ch.isalnum() or ch in " -_.()" else "-" for ch in cleaned)
    slug = re.sub(r"-{2,}", "-", " ".join(slug.split())).strip(" .-")[:40].strip(" .-")
    return slug or "my images"


# --- the three ways in -----------------------------------------------------------------------


def ingest_zip(
    data: bytes, title: str, *, budget: PictureBudget | None = None, progress: Progress | None = None
) -> Ingested:
    """A ZIP of `<class>/*` or `train|test/<class>/*` (in a top folder or not), saved as a set."""
    budget = budget or PictureBudget()
    digest = hashlib.sha256(data).hexdigest()
    known = _saved_upload(set_title_slug(title), digest)
    if known is not None:
        return Ingested(known, None, True)
    entries = zip_entries(data, budget.archive)
    with ZipReader(data) as reader:
        items = [Incoming(e.parts, e.info.file_size, (lambda e=e: reader.read(e)), e.name_repaired, e) for e in entries]
        return _ingest(items, title, digest, budget, progress, archive=data)


def ingest_files(
    files: Iterable[tuple[str, bytes]],
    title: str,
    *,
    budget: PictureBudget | None = None,
    progress: Progress | None = None,
) -> Ingested:
    """Files of a folder chosen in the browser: (path inside the upload, e.g. 'photos/cats/1.jpg', bytes)."""
    budget = budget or PictureBudget()
    files = list(files)
    h = hashlib.sha256()
    items: list[Incoming] = []
    for path, data in files:
        _check_upload_path(path)
        h.update(unicodedata.normalize("NFC", path).encode("utf-8", "surrogatepass") + b"\x00")
        h.update(hashlib.sha256(data).digest())
        parts = tuple(p for p in unicodedata.normalize("NFC", path).replace("\\", "/").split("/") if p not in ("", "."))
        items.append(Incoming(parts, len(data), (lambda data=data: data)))
    digest = h.hexdigest()
    known = _saved_upload(set_title_slug(title), digest)
    if known is not None:
        return Ingested(known, None, True)
    return _ingest(items, title, digest, budget, progress)


def ingest_classes(
    classes: dict[str, list[tuple[str, bytes]]],
    title: str,
    *,
    budget: PictureBudget | None = None,
    progress: Progress | None = None,
) -> Ingested:
    """Pictures gathered class by class (camera or files): {class name: [(file name, bytes)]}."""
    budget = budget or PictureBudget()
    files: list[tuple[str, bytes]] = []
    for cls, pictures in classes.items():
        name = clean_class_name(cls)
        for i, (file_name, data) in enumerate(pictures, 1):
            files.append((f"{name}/{i:03d}-{_safe_part(file_name) or 'picture'}", data))
    if len({clean_class_name(c) for c in classes}) < 2:
        raise DatasetError(_("add at least 2 classes"))
    return ingest_files(files, title, budget=budget, progress=progress)


def clean_class_name(text: str) -> str:
    """A class name typed by a user, as a folder name (DatasetError when nothing is left, or a
    split folder's name that would change how the folder is read)."""
    name = " ".join(_safe_part(clean_name(text).replace("/", " ")).split()).strip(" .")
    if not name:
        raise DatasetError(_("type a class name (letters or digits)"))
    if name.lower() in SPLIT_NAMES:
        raise DatasetError(_("'{name}' names a split folder; choose another class name").format(name=name))
    return name


def check_picture(data: bytes, *, max_pixels: int = decode.MAX_PIXELS) -> decode.ImageHeader:
    """A picture's header through the gate (format, pixel budget), or ImageError."""
    return decode.read_header(data, max_pixels=max_pixels, reducible=True)


def thumbnail(data: bytes, side: int = 96):
    """A small upright RGB copy (uint8 array) for the class-by-class grid, through the gate."""
    header = check_picture(data)
    scale = min(1.0, side / max(header.width, header.height))
    size = (max(1, round(header.width * scale)), max(1, round(header.height * scale)))
    return decode.decode_to_array(data, size, 3)


# --- one ingestion for all three ---------------------------------------------------------------


def _ingest(
    items: list[Incoming],
    title: str,
    digest: str,
    budget: PictureBudget,
    progress: Progress | None,
    archive: bytes | None = None,
) -> Ingested:
    """archive: the ZIP the items are members of (worker processes read it themselves)."""
    slug = set_title_slug(title)
    notes: list[str] = []
    kept, ignored = _arrange(items, budget, notes)
    place = sets_place()
    try:
        place.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(_("the folder for saved sets cannot be made ({exc})").format(exc=one_line(exc))) from None
    _clean_stale(place)
    tmp = place / f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        notes[:0] = ignored
        pictures = _Decoded(len(kept), budget.max_decoded_bytes)
        return _save_set(tmp, kept, notes, (slug, title, digest), budget, progress, pictures, archive)
    except OSError as exc:
        raise DatasetError(
            _("the set could not be saved ({exc}); nothing was kept").format(exc=one_line(exc))
        ) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _save_set(
    tmp: Path,
    kept: list[Incoming],
    notes: list[str],
    names: tuple[str, str, str],
    budget: PictureBudget,
    progress: Progress | None,
    pictures: _Decoded,
    archive: bytes | None,
) -> Ingested:
    """The pictures written into `tmp`, read back as a Dataset and renamed into place.
    names: (slug, the user's title, the upload's digest)."""
    slug, title, digest = names
    place = tmp.parent
    headers: dict[Path, decode.ImageHeader] = {}
    written = _write_pictures(kept, tmp, budget, notes, progress, headers, pictures, archive)
    h = hashlib.blake2b(digest_size=16)
    for rel, sha in sorted(written.items()):
        h.update(rel.encode("utf-8", "surrogatepass") + b"\x00" + sha)
    name = f"{slug}-{h.hexdigest()[:HASH_CHARS]}"
    final = place / name
    if (final / MARKER).is_file():  # the same pictures under the same name: that set
        saved = _read_marker(final)
        _remember_upload(final, digest)
        return Ingested(saved, None, True)
    ds = _load_checked(tmp, name, progress, headers, pictures.taken())
    saved = SavedSet(name, clean_name(title) or slug, len(ds.x_train) + len(ds.x_test), ds.class_names, time.time())
    _write_marker(tmp, saved, [digest], notes)
    try:
        tmp.rename(final)
    except OSError:
        if (final / MARKER).is_file():  # another session saved the same set a moment ago
            return Ingested(_read_marker(final), None, True)
        raise
    return Ingested(saved, replace(ds, notes=tuple(notes) + ds.notes), False)


def _arrange(items: list[Incoming], budget: PictureBudget, notes: list[str]) -> tuple[list[Incoming], list[str]]:
    """The files that can be pictures, with the common top folder(s) taken off; notes for what
    was left out on purpose (macOS metadata, hidden files, nested archives, files beside the classes)."""
    counts: Counter[str] = Counter()
    kept: list[Incoming] = []
    for item in items:
        if any(p == "__MACOSX" for p in item.parts) or item.parts[-1].startswith("._"):
            counts["mac"] += 1
        elif any(p.startswith(".") for p in item.parts):
            counts["hidden"] += 1
        elif item.parts[-1].lower().endswith(ARCHIVE_SUFFIXES):
            counts["archive"] += 1
        else:
            kept.append(item)
    if len(kept) > budget.max_files:
        raise DatasetError(
            _("{n_kept:,} files were sent; at most {max_files:,} can be read").format(
                n_kept=len(kept), max_files=budget.max_files
            )
        )
    total = sum(i.size for i in kept)
    if total > budget.max_bytes:
        raise DatasetError(
            _("the pictures take {total}; at most {max_bytes} can be read").format(
                total=_mb(total), max_bytes=_mb(budget.max_bytes)
            )
        )
    repaired = sum(i.name_repaired for i in kept)
    # A folder upload names its folder ('photos/cats/1.jpg'); a ZIP may or may not have one.
    while kept and all(len(i.parts) >= 3 for i in kept) and len({i.parts[0] for i in kept}) == 1:
        kept = [replace(i, parts=i.parts[1:]) for i in kept]
    beside = [i for i in kept if len(i.parts) < 2]
    kept = [i for i in kept if len(i.parts) >= 2]
    ignored: list[str] = []
    if counts["mac"]:
        ignored.append(Deferred(N_("{n} macOS metadata file(s) (__MACOSX/, ._*) were ignored"), n=counts["mac"]))
    if counts["hidden"]:
        ignored.append(Deferred(N_("{n} hidden file(s) were ignored"), n=counts["hidden"]))
    if counts["archive"]:
        ignored.append(
            Deferred(N_("{n} archive(s) inside the upload were ignored: they are not unpacked"), n=counts["archive"])
        )
    if beside:
        ignored.append(Deferred(N_("{n} file(s) beside the class folders were left out"), n=len(beside)))
    if repaired:
        ignored.append(
            Deferred(N_("{n} file name(s) were not valid UTF-8: their unreadable bytes are shown as �"), n=repaired)
        )
    if not kept:
        raise DatasetError(
            _("no pictures in class folders: expected <class>/<picture> or train|test/<class>/<picture>")
        )
    return sorted(kept, key=lambda i: i.parts), ignored


def _write_pictures(
    items: list[Incoming],
    tmp: Path,
    budget: PictureBudget,
    notes: list[str],
    progress: Progress | None,
    headers: dict[Path, decode.ImageHeader],
    pictures: _Decoded,
    archive: bytes | None,
) -> dict[str, bytes]:
    """Each file read once, checked at the gate, written under tmp; {relative path: sha256}.
    `headers` gets each written file's header (the folder loader does not read it again), and
    `pictures` its pixels where it could decode them (see _Decoded).
    For a large upload, reading, the gate, decoding and writing run in worker processes a few
    chunks ahead of this loop (_Arrivals), which decides in the files' order (duplicates). All
    are on disk, or the first error raised, before this returns."""
    written: dict[str, bytes] = {}
    first_of: dict[bytes, str] = {}
    duplicates: list[str] = []
    skipped: list[str] = []
    largest = 0
    with _Arrivals(items, budget.max_pixels, tmp, archive) as arrivals:
        for n, (rel, target, arrived) in enumerate(arrivals, 1):
            if not isinstance(arrived, tuple):
                skipped.append(f"{printable(rel)} ({one_line(arrived, 100)})")
                continue
            header, sha, pixels = arrived
            if sha in first_of:
                duplicates.append(f"{printable(rel)} = {printable(first_of[sha])}")
                target.unlink()
            else:
                first_of[sha] = rel
                pictures.put(target, pixels)
                written[rel] = sha
                headers[target] = header
                largest = max(largest, min(header.width * header.height, MAX_SIDE * MAX_SIDE))
            if progress and (n % 25 == 0 or n == len(items)):
                progress("read", n, len(items))
    estimate = len(written) * largest * 3
    if estimate > budget.max_decoded_bytes:
        raise DatasetError(
            _(
                "{n:,} pictures would take about {estimate} of memory; at most {limit} (use fewer or smaller pictures)"
            ).format(n=len(written), estimate=_mb(estimate), limit=_mb(budget.max_decoded_bytes))
        )
    if duplicates:
        more = "; …" if len(duplicates) > 5 else ""
        files = "; ".join(duplicates[:5]) + more
        notes.append(Deferred(N_("{n} duplicate picture(s) were kept once: {files}"), n=len(duplicates), files=files))
    if skipped:
        more = "; …" if len(skipped) > 10 else ""
        files = "; ".join(skipped[:10]) + more
        notes.append(Deferred(N_("{n} file(s) are not pictures we read: {files}"), n=len(skipped), files=files))
    if not written:
        raise DatasetError(_("none of the files is a picture we read (PNG, JPEG, BMP, GIF, WebP or TIFF)"))
    return written


def _storable(parts: tuple[str, ...]) -> bool:
    return all(parts) and not any(len(p.encode("utf-8", "surrogatepass")) > 240 for p in parts)


Arrived = tuple[decode.ImageHeader, bytes, "np.ndarray | None"]  # header, sha256, pixels (or None)
# What _Arrivals gives for a file: it arrived (and is written), or why it was refused (one line).
Outcome = Arrived | DatasetError | ImageError


def _read(item: Incoming) -> bytes:
    return _within_declared(item.read(), item.size)


def _within_declared(data: bytes, size: int) -> bytes:
    if len(data) > size:
        raise DatasetError(_("larger than the size its archive declared"))
    return data


def _take_in(data: bytes, target: str | Path, max_pixels: int) -> Arrived:
    """A file's bytes through the gate (ImageError when it is not a picture we read), then
    written at `target` (a new file), hashed, and (within MAX_SIDE) decoded the way the folder
    loader decodes a picture it does not resize. A picture whose pixels cannot be decoded gets
    None (the folder loader then says why, as for any folder)."""
    header, pixels = decode.read_picture(data, decode_within=MAX_SIDE, max_pixels=max_pixels)
    _write_file(target, data)
    return header, hashlib.sha256(data).digest(), pixels


def _arrive(read: Callable[[], bytes], size: int, target: str | Path, max_pixels: int) -> Outcome:
    """One file read (at most `size` bytes, as declared) and taken in, or why it was refused."""
    try:
        return _take_in(_within_declared(read(), size), target, max_pixels)
    except (DatasetError, ImageError) as exc:
        return exc


# --- in a worker process (lib.data.gate_processes) -----------------------------------------------

_archives: dict[str, ZipReader] = {}  # the upload's ZIP, opened once by each worker


def _take_in_chunk(
    jobs: list[tuple[bytes | ZipEntry, str]], archive: str | None, max_pixels: int, lang: str
) -> list[Outcome]:
    """`_take_in` for each (the file's bytes, or its entry in the ZIP at `archive`; its target),
    a refusal phrased in the uploader's language."""
    out: list[Outcome] = []
    with using(lang):
        for source, target in jobs:
            if isinstance(source, ZipEntry):
                assert archive is not None
                reader = _archives.get(archive) or _archives.setdefault(archive, ZipReader(archive))
                out.append(_arrive(functools.partial(reader.read, source), source.info.file_size, target, max_pixels))
            else:
                out.append(_arrive(lambda data=source: data, len(source), target, max_pixels))
    return out


_SENT = object()  # in a chunk: this file went to a worker


class _Arrivals:
    """(a file's relative path as stored, its target under `tmp`, its Outcome), in the files'
    order. A name that cannot be stored, or that an earlier file has (NFC and NFD spellings), is
    refused here; every other file is read, gated and written at its target.

    For a large upload that work runs in worker processes (lib.data.gate_processes), a chunk of
    files at a time, at most AHEAD chunks a worker sent and not yet handed on, so only their
    bytes wait in memory. The workers read a ZIP from a copy of it in `tmp` (hidden, deleted on
    leaving); files uploaded one by one are sent to them. A small upload is handled here
    (starting workers would cost more than they save). Leaving early cancels what has not
    started."""

    IN_WORKERS_FROM = 200  # files
    CHUNK_FILES = 64
    CHUNK_BYTES = 4 << 20
    AHEAD = 2

    def __init__(self, items: list[Incoming], max_pixels: int, tmp: Path, archive: bytes | None) -> None:
        self._items, self._max_pixels, self._tmp = items, max_pixels, tmp
        self._lang = language()  # the calling session's: workers phrase refusals in it
        self._workers = gate_processes.workers()
        self._pool = None
        self._archive: Path | None = None
        if len(items) >= self.IN_WORKERS_FROM and self._workers > 1 and gate_processes.available():
            if archive is not None:
                self._archive = tmp / ".upload.zip"  # hidden: the folder loader never reads it
                _write_file(self._archive, archive)
            self._pool = gate_processes.Pool(self._workers)

    def _planned(self) -> Iterator[tuple[Incoming, str, Path | None, Outcome | None]]:
        """Each item, its relative path, and its target, or why it has none."""
        planned: set[str] = set()
        folders: set[Path] = set()
        for item in self._items:
            parts = tuple(_safe_part(p) for p in item.parts)
            rel = "/".join(parts)
            if not _storable(parts):
                yield item, rel, None, DatasetError(_("a name that cannot be stored"))
            elif rel in planned:
                yield item, rel, None, DatasetError(_("the same name as another file (NFC and NFD spellings?)"))
            else:
                planned.add(rel)
                target = self._tmp.joinpath(*parts)
                if target.parent not in folders:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    folders.add(target.parent)
                yield item, rel, target, None

    def __iter__(self) -> Iterator[tuple[str, Path, Outcome]]:
        if self._pool is None:
            for item, rel, target, refused in self._planned():
                yield rel, target, (refused or _arrive(item.read, item.size, target, self._max_pixels))  # type: ignore[arg-type]
            return
        try:
            yield from self._through_workers()
        except gate_processes.WorkerStopped as exc:  # a worker was killed (out of memory?) or crashed
            raise DatasetError(
                _("the pictures could not be read: a worker process stopped ({exc}); nothing was kept").format(
                    exc=one_line(exc, 100)
                )
            ) from None

    def _through_workers(self) -> Iterator[tuple[str, Path, Outcome]]:
        waiting: deque[list] = deque()
        chunk: list[tuple[str, Path | None, object]] = []
        jobs: list[tuple[bytes | ZipEntry, str]] = []
        size = 0
        for item, rel, target, refused in self._planned():
            outcome: object = refused
            if target is not None:
                try:
                    jobs.append((item.member if item.member and self._archive else _read(item), str(target)))
                    outcome, size = _SENT, size + item.size
                except DatasetError as exc:
                    outcome = exc
            chunk.append((rel, target, outcome))
            if len(chunk) >= self.CHUNK_FILES or size >= self.CHUNK_BYTES:
                waiting.append(self._send(chunk, jobs))
                chunk, jobs, size = [], [], 0
                while len(waiting) > self.AHEAD * self._workers:
                    yield from self._received(waiting.popleft())
        if chunk:
            waiting.append(self._send(chunk, jobs))
        while waiting:
            yield from self._received(waiting.popleft())

    def _send(self, chunk: list, jobs: list) -> list:
        assert self._pool is not None
        archive = str(self._archive) if self._archive else None
        self._pool.send(_take_in_chunk, jobs, archive, self._max_pixels, self._lang)
        return chunk

    def _received(self, chunk: list) -> Iterator[tuple[str, Path, Outcome]]:
        assert self._pool is not None
        results = iter(self._pool.receive())
        for rel, target, outcome in chunk:
            yield rel, target, (next(results) if outcome is _SENT else outcome)

    def __enter__(self) -> _Arrivals:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.close()
        if self._archive is not None:
            self._archive.unlink(missing_ok=True)


class _Decoded:
    """The pictures decoded on arrival, in one uint8 buffer of `slots` rows (one per file that
    may be a picture), all of the first decoded picture's size and channels. The buffer is made
    only when its rows fit the set's decoded-memory budget, and let go at the first picture of
    another shape or one not decoded (the folder loader then decodes the set from disk): it is
    never held beside a second copy of the pixels. The loader takes it (`Predecoded`) and, when
    every picture is in it at the size it chose, arranges the rows in place: the Dataset's
    arrays are the buffer itself, so the pixels are held once."""

    def __init__(self, slots: int, max_bytes: int) -> None:
        self._slots, self._max_bytes = slots, max_bytes
        self._buffer: np.ndarray | None = None
        self._rows: dict[Path, int] = {}
        self._refused = False

    def put(self, path: Path, pixels: np.ndarray | None) -> None:
        if self._refused:
            return
        if pixels is not None and self._buffer is None and self._slots * pixels.nbytes <= self._max_bytes:
            self._buffer = np.empty((self._slots, *pixels.shape), dtype=np.uint8)
        if pixels is None or self._buffer is None or pixels.shape != self._buffer.shape[1:]:
            self._refused, self._buffer, self._rows = True, None, {}
            return
        row = len(self._rows)
        self._buffer[row] = pixels
        self._rows[path] = row

    def taken(self) -> Predecoded | None:
        """For the folder loader; this object lets go of the buffer."""
        if self._buffer is None:
            return None
        buffer, self._buffer = self._buffer, None
        return Predecoded(buffer, self._rows)


def _write_file(path: str | Path, data: bytes) -> None:
    """A new file (never one already there) holding `data`, in three syscalls."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _load_checked(
    tmp: Path, name: str, progress: Progress | None, headers: dict, decoded: Predecoded | None
) -> Dataset:
    """The folder loader on the new set (before anyone can see it), and at least 2 pictures a class."""
    try:
        ds = load_image_folder(
            tmp,
            progress=(lambda d, t: progress("load", d, t)) if progress else None,
            headers=headers,
            decoded=decoded,
        )
    except DatasetError as exc:
        raise DatasetError(str(exc).replace(str(tmp), name)) from None
    counts = Counter(ds.y_train.tolist()) + Counter(ds.y_test.tolist())
    few = [f"'{ds.class_names[k]}' has {counts[k]}" for k in range(ds.num_classes) if counts[k] < 2]
    if few:
        raise DatasetError(_("each class needs at least 2 pictures: {names}").format(names=", ".join(few)))
    return replace(ds, name=name)


# --- small parts --------------------------------------------------------------------------------


def _check_upload_path(path: str) -> None:
    if "\x00" in path:
        raise DatasetError(_("an uploaded file name contains a NUL character"))
    parts = path.replace("\\", "/").split("/")
    if path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        raise DatasetError(
            _("an uploaded file has an absolute path ({path}); it is refused").format(path=printable(path)[:120])
        )
    if ".." in parts:
        raise DatasetError(
            _("an uploaded file name leads out of its folder ({path}); it is refused").format(
                path=printable(path)[:120]
            )
        )


def _safe_part(part: str) -> str:
    """One path part as stored: NFC, printable (control characters become '_'), no separators."""
    if part.isascii() and part.isprintable() and "\\" not in part:
        return part.strip()  # nothing to change: the common case, once for every part of every file
    part = unicodedata.normalize("NFC", printable(part))
    return "".join("_" if unicodedata.category(ch) == "Cc" or ch in "/\\" else ch for ch in part).strip()


def _saved_upload(slug: str, digest: str) -> SavedSet | None:
    """A set this same upload (same bytes) was saved as under this name before: no work twice."""
    place = sets_place()
    try:
        candidates = [c for c in place.iterdir() if c.name.startswith(f"{slug}-") and _SET_NAME.match(c.name)]
    except OSError:
        return None
    for child in candidates:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            if digest in json.loads((child / MARKER).read_text("utf-8")).get("uploads", ()):
                return _read_marker(child)
    return None


def _write_marker(folder: Path, saved: SavedSet, uploads: list[str], notes: list[str]) -> None:
    record = {
        "title": saved.title,
        "pictures": saved.pictures,
        "classes": list(saved.classes),
        "created": saved.created,
        "uploads": uploads,
        "notes": notes,
    }
    tmp = folder / f"{MARKER}.{uuid.uuid4().hex[:8]}"
    tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1), "utf-8")
    os.replace(tmp, folder / MARKER)


def _remember_upload(folder: Path, digest: str) -> None:
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        record = json.loads((folder / MARKER).read_text("utf-8"))
        if digest not in record["uploads"]:
            saved = _read_marker(folder)
            _write_marker(folder, saved, [*record["uploads"], digest][-20:], list(record.get("notes", [])))


def _read_marker(folder: Path) -> SavedSet:
    record = json.loads((folder / MARKER).read_text("utf-8"))
    return SavedSet(
        name=folder.name,
        title=clean_name(str(record["title"])),
        pictures=int(record["pictures"]),
        classes=tuple(str(c) for c in record["classes"]),
        created=float(record["created"]),
    )


def _clean_stale(place: Path) -> None:
    """Temporary folders of a save or delete whose process died (a kill mid-save) are removed."""
    try:
        children = [c for c in place.iterdir() if c.name.startswith((TMP_PREFIX, OLD_PREFIX))]
    except OSError:
        return
    for child in children:
        pid = child.name.split("-")[1] if child.name.count("-") >= 2 else ""
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(child, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n / 1e3:,.0f} KB"
