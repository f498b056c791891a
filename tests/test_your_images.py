"""Your own pictures (folder upload, ZIP, class by class) become a saved folder set: layout,
naming, atomic saving, deleting, budgets and hostile archives, all with files the tests make."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import struct
import subprocess
import sys
import tracemalloc
import unicodedata
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lib.data import gate_processes
from lib.data import picture_sets as ps
from lib.data.folders import load_image_folder
from lib.data.sources import DatasetSpec, load_dataset
from lib.data.zip_archive import ArchiveBudget
from lib.errors import DatasetError
from lib.ui.url_state import params_for, spec_from_params
from tests.helpers import make_folder, write_image


@pytest.fixture(autouse=True)
def data_root(tmp_path, monkeypatch) -> Path:
    """Every test saves its sets under its own data root (the folders it makes lie inside it too)."""
    monkeypatch.setenv("EXPLORER_DATA_ROOT", str(tmp_path))
    return tmp_path


def png_bytes(seed: int, size=(12, 12), mode="RGB") -> bytes:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
    arr = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr[..., 0] if channels == 1 else arr, mode).save(buf, "PNG")
    return buf.getvalue()


def zip_of(entries: list[tuple[str | zipfile.ZipInfo, bytes]], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def zip_folder(root: Path, top: str | None = None) -> bytes:
    entries = []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            rel = p.relative_to(root).as_posix()
            entries.append((f"{top}/{rel}" if top else rel, p.read_bytes()))
    return zip_of(entries)


def three_classes(n: int = 4) -> list[tuple[str, bytes]]:
    return [(f"{cls}/{i}.png", png_bytes(k * 100 + i)) for k, cls in enumerate(("cat", "dog", "hen")) for i in range(n)]


def not_there(data_root: Path) -> list[str]:
    """What the sets' place holds besides complete sets (nothing, after a refused upload)."""
    place = data_root / ps.PLACE
    return sorted(p.name for p in place.iterdir()) if place.exists() else []


# --- item 1: the same Dataset as a folder ----------------------------------------------------


def test_a_zip_gives_the_same_dataset_and_fingerprint_as_the_folder_it_holds(tmp_path):
    folder = make_folder(tmp_path / "photos", {"cat": 5, "dog": 5, "hen": 5})
    # the modes the folder loader converts: gray, RGBA, 16-bit, palette, and an EXIF-rotated JPEG
    write_image(folder / "cat" / "gray.png", (16, 16), "L", seed=91)
    write_image(folder / "dog" / "alpha.png", (16, 16), "RGBA", seed=92)
    Image.fromarray(np.arange(256, dtype=np.uint16).reshape(16, 16) * 200).save(folder / "hen" / "deep.png")
    Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16)).convert("P").save(folder / "hen" / "pal.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (16, 16), (200, 10, 10)).save(folder / "cat" / "turned.jpg", exif=exif)
    plain = load_image_folder(folder)
    for top in ("photos", None):  # with or without the folder itself inside the ZIP
        got = ps.ingest_zip(zip_folder(folder, top), f"pets {top}")
        assert got.dataset.fingerprint == plain.fingerprint
        assert got.dataset.class_names == ("cat", "dog", "hen")
        assert load_dataset(DatasetSpec("images", got.saved.name)).fingerprint == plain.fingerprint


def test_pictures_decoded_on_arrival_are_the_folders_dataset_held_once(tmp_path):
    """Pictures of one size are decoded as they arrive and arranged in place: the same arrays,
    labels and split as the folder loader reading the saved folder, in one buffer (x_train and
    x_test share it, nothing copied). A picture whose header passes but whose pixels are cut
    short is skipped with the loader's own note, as when the folder is read from disk."""
    folder = make_folder(tmp_path / "photos", {"cat": 9, "dog": 7, "hen": 8}, size=(20, 14))
    for i, cls in enumerate(("cat", "dog", "hen")):
        write_image(folder / cls / "extra.jpg", (20, 14), "RGB", seed=70 + i)
    uniform = ps.ingest_zip(zip_folder(folder), "uniform").dataset
    plain = load_image_folder(folder)
    assert uniform.fingerprint == plain.fingerprint
    for got, want in ((uniform.x_train, plain.x_train), (uniform.x_test, plain.x_test)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(uniform.y_train, plain.y_train)
    assert uniform.x_train.base is not None and uniform.x_train.base is uniform.x_test.base  # one buffer

    whole = (folder / "dog" / "extra.jpg").read_bytes()
    (folder / "dog" / "extra.jpg").write_bytes(whole[:-40])  # header intact, pixels cut short
    cut = ps.ingest_zip(zip_folder(folder), "cut").dataset
    plain = load_image_folder(folder)
    assert cut.fingerprint == plain.fingerprint and len(cut.x_train) + len(cut.x_test) == 26
    said = [str(n) for n in cut.notes if "unreadable" in str(n)]
    assert said == [str(n) for n in plain.notes if "unreadable" in str(n)] and "dog/extra.jpg" in said[0]


def test_a_zip_with_train_and_test_folders_keeps_that_split(tmp_path):
    folder = make_folder(tmp_path / "split" / "train", {"a": 4, "b": 4})
    for i in range(4):
        write_image(tmp_path / "split" / "test" / "ab"[i % 2] / f"t{i}.png", seed=50 + i)
    got = ps.ingest_zip(zip_folder(tmp_path / "split", "split"), "split")
    assert (len(got.dataset.x_train), len(got.dataset.x_test)) == (8, 4)
    assert got.dataset.fingerprint == load_image_folder(folder.parent).fingerprint


def test_a_folder_upload_and_a_zip_of_the_same_pictures_are_one_set_and_one_fingerprint(tmp_path):
    files = [(f"photos/{name}", data) for name, data in three_classes()]
    from_folder = ps.ingest_files(files, "Pets")
    from_zip = ps.ingest_zip(zip_of(three_classes()), "Pets")
    assert from_zip.reused and from_zip.saved.name == from_folder.saved.name
    under_other_name = ps.ingest_zip(zip_of(three_classes()), "Other pets")
    assert under_other_name.saved.name != from_folder.saved.name
    assert under_other_name.dataset.fingerprint == from_folder.dataset.fingerprint  # so runs are reused


def test_the_same_upload_twice_does_no_work_twice(data_root):
    data = zip_of(three_classes())
    calls: list[tuple] = []
    first = ps.ingest_zip(data, "Pets", progress=lambda *a: calls.append(a))
    assert ("read", 12, 12) in calls and ("load", 12, 12) in calls  # files done / total, both passes
    stamp = (data_root / ps.PLACE / first.saved.name / ps.MARKER).stat().st_mtime_ns
    calls.clear()
    again = ps.ingest_zip(data, "Pets", progress=lambda *a: calls.append(a))
    assert again.reused and again.saved == first.saved and calls == []
    assert (data_root / ps.PLACE / first.saved.name / ps.MARKER).stat().st_mtime_ns == stamp


def test_class_by_class_becomes_a_set_with_the_typed_names():
    classes = {
        "고양이": [("camera.jpg", png_bytes(i)) for i in range(5)],
        "dog ": [("x.png", png_bytes(10 + i)) for i in range(5)],
    }
    got = ps.ingest_classes(classes, "My classes")
    assert got.dataset.class_names == ("dog", "고양이")
    assert len(got.dataset.x_train) + len(got.dataset.x_test) == 10
    with pytest.raises(DatasetError, match="at least 2 classes"):
        ps.ingest_classes({"cat": [("a.png", png_bytes(1)), ("b.png", png_bytes(2))]}, "one")
    for bad, words in (
        ("", "type a class name"),
        ("  ![x](y) ", None),
        ("train", "split folder"),
        ("../..", "type a class name"),
    ):
        if words is None:
            assert ps.clean_class_name(bad) == "x (y)"
        else:
            with pytest.raises(DatasetError, match=words):
                ps.clean_class_name(bad)


# --- item 2: kept and shared -------------------------------------------------------------------


def test_sets_are_named_by_the_user_plus_a_content_hash_under_the_data_root(data_root):
    a = ps.ingest_zip(zip_of(three_classes()), "  My *Pets*/../!  ")
    b = ps.ingest_zip(zip_of(three_classes(5)), "  My *Pets*/../!  ")
    assert a.saved.name.startswith("My Pets -.") is False
    assert a.saved.name.rsplit("-", 1)[0] == b.saved.name.rsplit("-", 1)[0] == "My Pets"
    assert a.saved.name != b.saved.name  # two students, one name: two sets
    assert (data_root / ps.PLACE / a.saved.name / ps.MARKER).is_file()
    assert [s.name for s in ps.list_sets()] == [b.saved.name, a.saved.name]  # newest first
    assert ps.set_title_slug(unicodedata.normalize("NFD", "강아지")) == "강아지"


def test_the_url_names_the_set_and_restores_it():
    got = ps.ingest_zip(zip_of(three_classes()), "Pets")
    spec = DatasetSpec("images", got.saved.name)
    params = params_for(spec, None, None)
    assert params == {"dataset": "images", "path": got.saved.name}
    assert spec_from_params(params) == spec
    assert load_dataset(spec_from_params(params)).fingerprint == got.dataset.fingerprint


def test_a_set_in_progress_is_never_seen_by_another_session(data_root):
    seen: list[tuple[list, bool]] = []

    def another_session_looks(stage, done, total):
        place = data_root / ps.PLACE
        hidden_only = all(p.name.startswith(".") for p in place.iterdir())
        seen.append(([s.name for s in ps.list_sets()], hidden_only))

    got = ps.ingest_zip(zip_of(three_classes()), "Pets", progress=another_session_looks)
    assert seen and all(listed == [] and hidden_only for listed, hidden_only in seen)
    with pytest.raises(DatasetError):  # and a link made up from the final name did not load early
        ps.set_path(got.saved.name.replace(got.saved.name[-10:], "0" * 10))
    assert [s.name for s in ps.list_sets()] == [got.saved.name]


def test_a_save_killed_half_way_is_never_listed_and_is_cleaned_up(data_root):
    script = (
        "import os, sys; from lib.data import picture_sets as ps\n"
        "from tests.test_your_images import zip_of, three_classes\n"
        "ps.ingest_zip(zip_of(three_classes()), 'x', progress=lambda *a: os._exit(9))\n"
    )
    env = {**os.environ, "EXPLORER_DATA_ROOT": str(data_root)}
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parent.parent, env=env)
    assert done.returncode == 9
    assert [p.name[:5] for p in (data_root / ps.PLACE).iterdir()] == [".tmp-"]  # what the kill left
    assert ps.list_sets() == []
    assert list((data_root / ps.PLACE).iterdir()) == []  # the dead process's folder was removed


def test_only_sets_made_here_can_be_deleted(data_root):
    got = ps.ingest_zip(zip_of(three_classes()), "Pets")
    make_folder(data_root / ps.PLACE / "plain-0123456789", {"a": 2, "b": 2})  # no marker: not ours
    for name in ("shapes", "../shapes", "plain-0123456789", "/etc", f"{got.saved.name}/../x"):
        with pytest.raises(DatasetError):
            ps.delete_set(name)
    ps.delete_set(got.saved.name)
    assert ps.list_sets() == [] and (data_root / ps.PLACE / "plain-0123456789").is_dir()
    with pytest.raises(DatasetError, match="no saved set named"):
        load_dataset(DatasetSpec("images", got.saved.name))


# --- item 3: every picture through the one gate ------------------------------------------------


def big_header_png(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose header says width x height (CRC fixed): decoding it would need GBs."""
    data = bytearray(png_bytes(0, (1, 1)))
    ihdr = bytes(data[12:16]) + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr) & 0xFFFFFFFF)
    return bytes(data)


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto 10 10 lineto stroke\nshowpage\n"


def test_each_zip_member_goes_through_the_gate():
    entries = three_classes() + [("cat/evil.png", EPS), ("dog/huge.png", big_header_png(20_000, 20_000))]
    got = ps.ingest_zip(zip_of(entries), "gate")
    note = next(n for n in got.dataset.notes if "not pictures we read" in n)
    assert "cat/evil.png (not an image in a format we read" in note
    assert "dog/huge.png (too large" in note
    assert len(got.dataset.x_train) + len(got.dataset.x_test) == 12
    assert sorted(p.name for p in (ps.sets_place() / got.saved.name / "cat").iterdir()) == [
        f"{i}.png" for i in range(4)
    ]


def test_folder_uploads_and_camera_pictures_go_through_the_gate():
    files = [(f"photos/{n}", d) for n, d in three_classes()] + [("photos/cat/evil.png", EPS)]
    assert any("photos" not in n and "cat/evil.png" in n for n in ps.ingest_files(files, "f").dataset.notes)
    with pytest.raises(Exception, match="not an image in a format we read"):
        ps.check_picture(EPS)  # what the class-by-class dialog calls on every camera picture
    with pytest.raises(Exception, match="too large"):
        ps.check_picture(big_header_png(20_000, 20_000))
    assert ps.thumbnail(png_bytes(1, (200, 100))).shape == (48, 96, 3)


# --- item 4: budgets and hostile archives ------------------------------------------------------


def test_a_zip_bomb_is_refused_from_its_directory_before_inflating(data_root):
    bomb = zip_of(three_classes() + [("cat/bomb.bmp", bytes(60_000_000))])
    assert len(bomb) < 200_000
    tracemalloc.start()
    with pytest.raises(DatasetError, match=r"cat/bomb.bmp declares 60.0 MB .* decompression bomb"):
        ps.ingest_zip(bomb, "bomb")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 5_000_000  # never inflated
    assert not_there(data_root) == []


def test_budgets_files_bytes_and_decoded_size_each_refused_in_one_line(data_root):
    data = zip_of(three_classes(4))
    few = ps.PictureBudget(archive=ArchiveBudget(max_files=5))
    with pytest.raises(DatasetError, match="the ZIP holds 12 entries; at most 5 files"):
        ps.ingest_zip(data, "x", budget=few)
    with pytest.raises(DatasetError, match="ZIP would unpack to .*; at most 1.0 KB"):
        ps.ingest_zip(data, "x", budget=ps.PictureBudget(archive=ArchiveBudget(max_bytes=1000)))
    with pytest.raises(DatasetError, match="pictures take .*; at most"):
        ps.ingest_files(three_classes(4), "x", budget=ps.PictureBudget(max_bytes=1000))
    with pytest.raises(DatasetError, match="12 pictures would take about"):
        ps.ingest_files(three_classes(4), "x", budget=ps.PictureBudget(max_decoded_bytes=1000))
    got = ps.ingest_zip(
        zip_of(three_classes() + [("dog/wide.png", png_bytes(5, (300, 200)))]),
        "px",
        budget=ps.PictureBudget(max_pixels=50_000),
    )
    assert any("dog/wide.png (too large (300x200 pixels; at most 50,000)" in n for n in got.dataset.notes)
    assert not_there(data_root) == [got.saved.name]


def special(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    return info


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        (("../evil.png", b"x"), "leads out of its folder"),
        (("cat/../../evil.png", b"x"), "leads out of its folder"),
        (("/etc/evil.png", b"x"), "absolute path"),
        (("C:/evil.png", b"x"), "absolute path"),
        ((special("cat/link.png", stat.S_IFLNK | 0o777), b"/etc/passwd"), "holds a link"),
        ((special("cat/dev.png", stat.S_IFCHR | 0o600), b""), "device or other special file"),
        ((special("cat/fifo.png", stat.S_IFIFO | 0o600), b""), "device or other special file"),
    ],
)
def test_hostile_entries_refuse_the_zip_and_save_nothing(entry, words, data_root):
    with pytest.raises(DatasetError, match=words):
        ps.ingest_zip(zip_of(three_classes() + [entry]), "hostile")
    assert not_there(data_root) == []
    assert not (data_root.parent / "evil.png").exists()


def test_folder_upload_names_that_leave_the_folder_are_refused(data_root):
    for name in ("photos/../../evil.png", "/etc/evil.png"):
        with pytest.raises(DatasetError, match="refused"):
            ps.ingest_files(three_classes() + [(name, png_bytes(1))], "x")
    assert not_there(data_root) == []


def test_mac_metadata_hidden_files_and_nested_archives_are_left_out_with_a_note():
    inner = zip_of(three_classes())
    entries = three_classes() + [
        ("__MACOSX/cat/._0.png", b"\x00\x05\x16\x07junk"),
        ("cat/._1.png", b"\x00\x05\x16\x07junk"),
        ("dog/.DS_Store", b"junk"),
        (".hidden/cat/9.png", png_bytes(77)),
        ("hen/more.zip", inner),
        ("hen/more.tar.gz", b"junk"),
    ]
    notes = ps.ingest_zip(zip_of(entries), "mac").dataset.notes
    assert "2 macOS metadata file(s) (__MACOSX/, ._*) were ignored" in notes
    assert "2 hidden file(s) were ignored" in notes
    assert "2 archive(s) inside the upload were ignored: they are not unpacked" in notes


def test_korean_names_in_nfd_and_nfc_are_one_class_shown_in_nfc():
    cat = "고양이"
    nfd = unicodedata.normalize("NFD", cat)
    assert nfd != cat
    entries = [(f"{nfd}/{i}.png", png_bytes(i)) for i in range(3)] + [
        (f"{cat}/{i + 3}.png", png_bytes(i + 3)) for i in range(3)
    ]
    entries += [(f"개/{i}.png", png_bytes(20 + i)) for i in range(3)]
    got = ps.ingest_zip(zip_of(entries), unicodedata.normalize("NFD", "우리 반"))
    assert got.dataset.class_names == ("개", cat)
    assert sum(np.concatenate([got.dataset.y_train, got.dataset.y_test]) == 1) == 6
    assert got.saved.name.startswith("우리 반-")
    folder_upload = ps.ingest_files([(f"우리/{n}", d) for n, d in entries], "nfd")
    assert folder_upload.dataset.class_names == ("개", cat)


def with_raw_name(entries, placeholder: str, raw: bytes) -> bytes:
    """A ZIP whose member `placeholder` is renamed to raw bytes (in both the local header and
    the central directory). zipfile sets the UTF-8 flag for a non-ASCII placeholder only."""
    data = zip_of(entries)
    assert len(raw) == len(placeholder.encode())
    return data.replace(placeholder.encode(), raw)


def test_names_that_are_not_valid_utf8():
    entries = three_classes() + [("cat/XXXX.png", png_bytes(55))]
    got = ps.ingest_zip(with_raw_name(entries, "cat/XXXX.png", b"cat/\xff\xfe\xfd\xfc.png"), "bytes")
    assert "1 file name(s) were not valid UTF-8: their unreadable bytes are shown as �" in got.dataset.notes
    assert (ps.sets_place() / got.saved.name / "cat" / "����.png").is_file()
    korean_windows = with_raw_name(entries, "cat/XXXX.png", "cat/사진.png".encode("cp949"))
    assert (ps.sets_place() / ps.ingest_zip(korean_windows, "cp949").saved.name / "cat" / "사진.png").is_file()
    with pytest.raises(DatasetError, match="says its file names are UTF-8, but one is not"):
        flagged = three_classes() + [("cat/éé.png", png_bytes(55))]  # non-ASCII: written with the UTF-8 flag
        ps.ingest_zip(with_raw_name(flagged, "cat/éé.png", b"cat/\xff\xfe\xfd\xfc.png"), "bad")


def test_a_class_with_fewer_than_2_pictures_is_refused_with_the_count(data_root):
    entries = three_classes() + [("owl/0.png", png_bytes(99)), ("owl/notes.txt", b"hello")]
    with pytest.raises(DatasetError, match="each class needs at least 2 pictures: 'owl' has 1"):
        ps.ingest_zip(zip_of(entries), "few")
    assert not_there(data_root) == []  # nothing saved half-way


def test_duplicate_pictures_are_said_and_kept_once(data_root):
    entries = three_classes() + [("cat/copy.png", three_classes()[0][1]), ("dog/again.png", three_classes()[0][1])]
    got = ps.ingest_zip(zip_of(entries), "dups")
    note = next(n for n in got.dataset.notes if "duplicate" in n)
    assert note.startswith("2 duplicate picture(s) were kept once: cat/copy.png = cat/0.png; dog/again.png = cat/0.png")
    assert len(got.dataset.x_train) + len(got.dataset.x_test) == 12


@pytest.mark.parametrize("odd_last", [False, True], ids=["one size", "one picture of another size last"])
def test_peak_memory_stays_within_twice_the_decoded_size(tmp_path, odd_last):
    """Within 2x the Dataset's size, also when the pictures decoded on arrival cannot be used
    (the last one is of another size): that buffer is let go before the loader decodes again."""
    rng = np.random.default_rng(0)
    entries = []
    for i in range(600):
        side = 40 if odd_last and i == 599 else 48
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
        entries.append((f"c{i % 3}/{'z' if side == 40 else ''}{i}.jpg", buf.getvalue()))
    data = zip_of(entries, zipfile.ZIP_STORED)
    tracemalloc.start()
    got = ps.ingest_zip(data, "memory")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    size = got.dataset.x_train.nbytes + got.dataset.x_test.nbytes
    assert peak <= 2 * size, (peak, size)


# --- a large upload: read, gated and written by worker processes ------------------------------

LINUX_PROC = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
# One core (or no fork server): every upload is read in this process, as it should be.
WORKERS = gate_processes.available() and gate_processes.workers() > 1
IN_WORKERS = pytest.mark.skipif(not WORKERS, reason="worker processes need 2 cores and a fork server")


def grandchildren() -> set[int]:
    """Processes whose parent is a child of this one: the gate's workers are children of
    multiprocessing's fork server, itself a child of this process."""
    parent_of: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent_of[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    children = {pid for pid, parent in parent_of.items() if parent == os.getpid()}
    return {pid for pid, parent in parent_of.items() if parent in children}


class Watch:
    """A progress callback that notes the worker processes alive while the files are read."""

    def __init__(self, kill: bool = False) -> None:
        self.before, self.seen, self.kill = grandchildren(), set(), kill

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == "read":
            workers = grandchildren() - self.before
            self.seen |= workers
            if self.kill:
                for pid in workers:
                    with contextlib.suppress(ProcessLookupError):  # gone since /proc was read
                        os.kill(pid, 9)


def rotated_jpeg(seed: int) -> bytes:
    """A 12x12 JPEG stored on its side (EXIF orientation 6): decoding turns it upright."""
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(
        buf, "JPEG", exif=exif
    )
    return buf.getvalue()


def hostile_mix(per_class: int) -> list[tuple[str, bytes]]:
    entries = three_classes(per_class)
    return entries + [
        ("cat/turned.jpg", rotated_jpeg(5)),
        ("cat/evil.png", EPS),
        ("dog/huge.png", big_header_png(20_000, 20_000)),
        ("dog/notes.txt", b"hello"),
        ("hen/copy.png", entries[0][1]),
    ]


def ingest(way: str, entries: list[tuple[str, bytes]], title: str, progress=None):
    if way == "zip":
        return ps.ingest_zip(zip_of(entries), title, progress=progress)
    return ps.ingest_files([(f"photos/{name}", data) for name, data in entries], title, progress=progress)


@LINUX_PROC
@pytest.mark.parametrize("way", ["zip", "folder"])
@pytest.mark.parametrize("per_class", [4, 70], ids=["here", "in worker processes"])
def test_an_upload_is_gated_alike_here_and_in_worker_processes(tmp_path, way, per_class):
    """216 files are read, gated, decoded and written by worker processes, 16 in this process:
    the same refusals, the same duplicate note, and pictures decoded on arrival that are the
    folder loader's own (the saved set read back from disk has the same fingerprint)."""
    watch = Watch()
    got = ingest(way, hostile_mix(per_class), f"mix {per_class}", watch)
    assert bool(watch.seen) == (per_class == 70 and WORKERS)
    ds = got.dataset
    assert len(ds.x_train) + len(ds.x_test) == 3 * per_class + 1
    refused = next(n for n in ds.notes if "not pictures we read" in n)
    for part in ("cat/evil.png (not an image in a format we read", "dog/huge.png (too large", "dog/notes.txt ("):
        assert part in refused
    assert any("hen/copy.png = cat/0.png" in n for n in ds.notes)
    assert ds.x_train.base is not None and ds.x_train.base is ds.x_test.base  # decoded on arrival, held once
    assert load_image_folder(ps.sets_place() / got.saved.name).fingerprint == ds.fingerprint
    stored = sorted(
        p.relative_to(ps.sets_place() / got.saved.name).as_posix()
        for p in (ps.sets_place() / got.saved.name).rglob("*")
    )
    assert "cat/evil.png" not in stored and "hen/copy.png" not in stored and ".upload.zip" not in stored


@LINUX_PROC
@IN_WORKERS
def test_a_picture_cut_short_read_by_a_worker_is_said_by_the_loader():
    whole = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(whole, "JPEG")
    watch = Watch()
    got = ps.ingest_zip(zip_of(three_classes(70) + [("dog/cut.jpg", whole.getvalue()[:-40])]), "cut", progress=watch)
    assert watch.seen
    assert any("unreadable" in n and "dog/cut.jpg" in n for n in got.dataset.notes)
    assert len(got.dataset.x_train) + len(got.dataset.x_test) == 210
    assert ps.load_picture_set(got.saved.name).fingerprint == got.dataset.fingerprint


@LINUX_PROC
@IN_WORKERS
def test_worker_processes_phrase_refusals_in_the_uploaders_language():
    from lib import i18n

    watch = Watch()
    with i18n.using("ko"):
        got = ps.ingest_zip(zip_of(three_classes(70) + [("cat/evil.png", EPS)]), "korean", progress=watch)
    assert watch.seen
    note = next(n for n in got.dataset.notes if "evil.png" in n)
    with i18n.using("ko"):
        assert "cat/evil.png (읽을 수 있는 형식의 이미지가 아닙니다" in i18n.shown(note)


@LINUX_PROC
@IN_WORKERS
def test_a_worker_process_killed_half_way_is_one_line_and_saves_nothing(data_root):
    watch = Watch(kill=True)
    with pytest.raises(
        DatasetError, match=r"^the pictures could not be read: a worker process stopped .*nothing was kept$"
    ):
        ps.ingest_zip(zip_of(three_classes(700)), "killed", progress=watch)
    assert watch.seen
    assert not_there(data_root) == []  # no set, no temporary folder
    assert ps.ingest_zip(zip_of(three_classes(70)), "after").dataset is not None  # the next upload works


# --- the Delete button, in the app (Streamlit's AppTest) ---------------------------------------


def _app_on(params: dict[str, str]):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "streamlit_app.py"), default_timeout=120)
    at.query_params.update(params)
    at.run()
    assert not at.exception, at.exception
    return at


def _in_use(at) -> str:
    return next(m.value for m in at.sidebar.markdown if "In use:" in m.value)


def test_the_delete_button_removes_the_set_for_everyone_and_the_session_goes_back_to_the_default(data_root):
    from lib.ui import cache, state

    mine = ps.ingest_zip(zip_of(three_classes()), "Pets").saved
    other = ps.ingest_zip(zip_of(three_classes(3)), "Birds").saved
    at = _app_on({"dataset": "images", "path": mine.name})
    assert at.session_state[state.DATASET_SPEC] == DatasetSpec("images", mine.name)
    assert at.selectbox(key=state.IMAGES_SET).value == mine.name
    assert "Pets" in _in_use(at)
    assert [p for p in at.sidebar.get("popover") if "Delete this set" in str(p.proto)]

    at.button(key="images_delete").click().run()
    assert not at.exception, at.exception
    assert not (data_root / ps.PLACE / mine.name).exists()
    assert [s.name for s in ps.list_sets()] == [other.name]  # only the set asked for
    assert mine.name not in at.selectbox(key=state.IMAGES_SET).options
    assert at.session_state[state.DATASET_SPEC] == cache.DEFAULT_SPEC
    assert "digits" in _in_use(at).lower()
    assert at.query_params.get("path") != [mine.name]  # a reload does not ask for the deleted set
    at.run()  # the next rerun does not load another set by itself either
    assert at.session_state[state.DATASET_SPEC] == cache.DEFAULT_SPEC
    at.selectbox(key=state.IMAGES_SET).select(other.name).run()  # the sets left are there to pick
    assert at.session_state[state.DATASET_SPEC] == DatasetSpec("images", other.name)


def test_a_built_in_set_or_a_folder_not_made_here_offers_no_delete(data_root):
    from lib.ui import state

    at = _app_on({"dataset": "shapes"})  # a built-in set
    assert not [b for b in at.button if b.key == "images_delete"]
    assert not [p for p in at.sidebar.get("popover") if "Delete" in str(p.proto)]
    # A folder in the sets' place that this app did not make (no marker) is neither listed nor deletable.
    stranger = data_root / ps.PLACE / "pets-0123456789"
    make_folder(stranger, {"a": 3, "b": 3})
    at = _app_on({"dataset": "images", "path": stranger.name})
    assert at.selectbox(key=state.IMAGES_SET).options == [stranger.name]  # only the link's own name
    assert not [b for b in at.button if b.key == "images_delete"]
    assert "no saved set named" in " ".join(e.value for e in at.sidebar.error)
    assert stranger.is_dir()


def test_every_page_works_on_a_saved_set(tmp_path, monkeypatch):
    """A set of your images, named in the URL as a shared link names it, on all five pages (a run
    trained on it for Compare and Look inside): each page draws without an error and says which set
    is in use."""
    from streamlit.testing.v1 import AppTest

    from lib.runs.store import RunStore
    from lib.runs.train_or_load import train_or_load
    from lib.train.settings import TrainSettings
    from tests.helpers import ROOT

    got = ps.ingest_files(three_classes(6), "Pets for every page")
    monkeypatch.setenv("EXPLORER_RUNS", str(tmp_path / "runs"))
    spec = DatasetSpec("images", got.saved.name)
    train_or_load(load_dataset(spec), TrainSettings(model="mlp", epochs=1), spec.label, RunStore(tmp_path / "runs"))
    for page in ("pages/dataset.py", "pages/augmentation.py", "pages/train_evaluate.py", "pages/compare.py",
                 "pages/inspect.py"):  # fmt: skip
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
        for key, value in params_for(spec, None, None).items():
            at.query_params[key] = value
        at.run()
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        shown = " ".join(m.value for m in at.markdown)
        assert "Pets for every page" in shown or got.saved.name in shown, (page, shown[:300])
