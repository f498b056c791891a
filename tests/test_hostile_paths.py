"""Issue 12, typed paths: one guard (lib.data.paths.guard) for the sidebar, the pages and the CLI.

With a data root set, a path outside it is refused in the same words whether it exists or
not (no probing of server files), the transfer "local weights file" included; NUL bytes,
over-long names, symlink loops, permission errors and names that are not UTF-8 give one
line, never a traceback."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from lib import cli
from lib.data.dataset import DatasetError
from lib.data.folders import load_image_folder
from lib.data.paths import guard
from lib.data.sources import DatasetSpec, load_dataset, parse_spec
from lib.errors import TransferError
from tests.helpers import app_on_page, make_folder, save_npz, tiny_arrays, write_image


@pytest.fixture
def served(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "served"
    make_folder(root / "pets", {"a": 3, "b": 3})
    monkeypatch.setenv("EXPLORER_DATA_ROOT", str(root))
    return root


def _without(message: str, path: str) -> str:
    return message.replace(path, "<path>")


def test_outside_the_root_existing_and_missing_files_get_the_same_answer(served):
    answers = []
    for path in ("/etc/passwd", "/etc/nope-does-not-exist"):
        with pytest.raises(DatasetError) as err:
            guard(path, kind="file")
        answers.append(_without(str(err.value), path))
    assert answers[0] == answers[1]
    assert "outside the data folder" in answers[0]


def test_weights_file_outside_the_root_is_refused_before_any_read(served):
    from lib.train.transfer import _keras_backbone

    answers = []
    for path in ("/etc/passwd", "/etc/nope-does-not-exist"):
        with pytest.raises(TransferError) as err:
            _keras_backbone("mobilenetv2", 96, path)
        answers.append(_without(str(err.value), path))
    assert answers[0] == answers[1]
    assert "outside the data folder" in answers[0]


def test_weights_file_inside_the_root_still_reaches_keras(served):
    from lib.train.transfer import weights_file

    (served / "w.weights.h5").write_bytes(b"not hdf5")
    assert weights_file("w.weights.h5") == (served / "w.weights.h5").resolve()
    with pytest.raises(TransferError, match="not found"):
        weights_file("missing.weights.h5")


def test_cli_weights_path_outside_the_root_is_one_line(served, capsys):
    code = cli.main(["train", "digits", "--model", "mobilenetv2", "--weights", "/etc/passwd", "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "outside the data folder" in err


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("bad\x00name.npz", "NUL"),
        ("x" * 5000, "too long"),
        ("/tmp/" + "y" * 300 + ".npz", "too long"),
    ],
)
def test_odd_typed_paths_are_one_line(path, reason):
    with pytest.raises(DatasetError, match=reason):
        load_dataset(DatasetSpec("npz", path))
    with pytest.raises(DatasetError, match=reason):
        load_dataset(DatasetSpec("folder", path))


def test_symlink_loop_is_one_line(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(DatasetError, match="loop"):
        load_dataset(DatasetSpec("folder", str(tmp_path / "a")))
    with pytest.raises(DatasetError, match="loop"):
        parse_spec(str(tmp_path / "a"))


def test_permission_denied_is_one_line(tmp_path, monkeypatch):
    target = tmp_path / "data.npz"
    save_npz(target, **tiny_arrays())
    real_stat = Path.stat

    def denied(self, *args, **kwargs):
        if self.name == "data.npz":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", denied)
    with pytest.raises(DatasetError, match="permission denied"):
        load_dataset(DatasetSpec("npz", str(target)))


def test_cli_inspect_with_a_nul_byte_is_one_line(capsys):
    assert cli.main(["inspect", "a\x00b"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "NUL" in err and err.count("\n") == 1


def test_names_that_are_not_utf8_load_with_a_replacement_character(tmp_path):
    root = tmp_path / "photos"
    make_folder(root, {"good": 3})
    bad_class = os.fsdecode(b"caf\xe9")  # latin-1 bytes, not UTF-8
    bad_dir = Path(os.fsencode(root).decode("utf-8", "surrogateescape")) / bad_class
    for i in range(3):
        write_image(bad_dir / f"{i}.png", seed=10 + i)
    (bad_dir / os.fsdecode(b"broken\xff.png")).write_bytes(b"not an image")
    ds = load_image_folder(root)
    assert ds.class_names == ("caf\ufffd", "good")
    assert len(ds.fingerprint) == 32
    assert any("broken\ufffd.png" in note for note in ds.notes)
    for text in ds.class_names + ds.notes:
        text.encode("utf-8")  # what Streamlit and the CLI must do with it


def test_hidden_folders_are_left_out_with_a_note(tmp_path):
    root = make_folder(tmp_path / "photos", {"a": 3, "b": 3})
    write_image(root / "a" / ".ipynb_checkpoints" / "0-checkpoint.png", seed=99)
    ds = load_image_folder(root)
    assert len(ds.x_train) + len(ds.x_test) == 6
    assert any("hidden folders were left out" in n and ".ipynb_checkpoints" in n for n in ds.notes)


def test_sidebar_with_an_over_long_path_shows_one_line(tmp_path):
    at = app_on_page()
    at.selectbox(key="source_choice").select("folder").run()
    at.text_input(key="folder_path").input("z" * 5000).run()
    at.button(key="load_folder").click().run()
    assert not at.exception
    errors = [e.value for e in at.sidebar.error]
    assert errors and "too long" in errors[0]
    assert "Still using digits" in errors[0]


def test_train_page_does_not_read_a_weights_file_on_rerun(served, monkeypatch):
    import lib.train.transfer as transfer

    reads = []

    def recording(path):
        reads.append(path)
        raise TransferError("read")

    monkeypatch.setattr(transfer, "weights_file", recording)
    (served / "w.weights.h5").write_bytes(np.zeros(8).tobytes())
    at = app_on_page()
    at.session_state["train_model"] = "mobilenetv2"
    at.session_state["train_weights"] = "local file…"
    at.session_state["train_weights_file"] = "w.weights.h5"
    at.switch_page("pages/train_evaluate.py").run()
    assert not at.exception, at.exception
    at.run()
    assert reads == []
    assert any("Model summary" in e.label for e in at.expander)


def test_a_file_that_cannot_be_stated_inside_a_folder_is_skipped_with_a_reason(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "photos", {"a": 3, "b": 3})
    write_image(root / "a" / "locked.png", seed=50)
    real_is_file = Path.is_file

    def is_file(self):
        if self.name == "locked.png":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_is_file(self)

    monkeypatch.setattr(Path, "is_file", is_file)
    ds = load_image_folder(root)
    assert len(ds.x_train) + len(ds.x_test) == 6
    assert any("a/locked.png (Permission denied)" in n for n in ds.notes)
