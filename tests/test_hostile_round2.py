"""Issue 22, second round of hostile and careless inputs: terminal escapes (6), numeric
options (7), a full disk (11), epochs 0 and one image per class (12)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from lib.data.dataset import Dataset
from lib.data.paths import printable
from lib.errors import SettingsError, StoreError, os_reason
from lib.runs.store import RunStore
from lib.train.training import TrainSettings, train
from tests.helpers import ROOT, make_folder, write_image

ESC = "\x1b[2J\x1b]0;owned\x07"


def cli(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lib.cli", *args],
        cwd=kw.pop("cwd", ROOT),
        capture_output=True,
        text=True,
        timeout=600,
        **kw,
    )


def _one_line_error(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr[-1500:])
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-1500:]
    return lines[0]


# --- 6: every text the CLI prints from a file or a user is printable --------------------------


def test_printable_escapes_controls_and_bidi_overrides():
    assert printable("a\x1b[31mb\nc\td\u202ee\x9b") == "a\\x1b[31mb\\x0ac\\x09d\\u202ee\\x9b"
    assert printable("고양이 café") == "고양이 café"


def test_cli_train_report_html_and_predict_print_no_control_character(tmp_path):
    data = tmp_path / f"data{ESC}"
    make_folder(data, {f"cat{ESC}": 4, "dog\x08\x08\x08": 4}, size=(8, 8))
    store = str(tmp_path / "runs")
    outputs = []
    r = cli("train", str(data), "--model", "mlp", "--epochs", "1", "--store", store)
    assert r.returncode == 0, r.stderr[-2000:]
    outputs.append(r.stdout + r.stderr)
    run_id = r.stdout.split("run id: ")[1].split()[0]
    r = cli("report", run_id, "--store", store, "--html", str(tmp_path / f"r{ESC}.html"))
    assert r.returncode == 0, r.stderr[-2000:]
    outputs.append(r.stdout + r.stderr)
    picture = write_image(tmp_path / f"p{ESC}.png", (8, 8))
    r = cli("predict", run_id, str(picture), "--store", store)
    assert r.returncode == 0, r.stderr[-2000:]
    outputs.append(r.stdout + r.stderr)
    (tmp_path / f"bad{ESC}.png").write_text("text")
    outputs.append(_one_line_error(cli("predict", run_id, str(tmp_path / f"bad{ESC}.png"), "--store", store)))
    for text in outputs:
        assert not any(ch in text for ch in "\x1b\x07\x08"), text[-800:]
    assert "cat\\x1b[2J" in outputs[0] and "dog\\x08" in outputs[0]  # shown, as escapes
    assert "r\\x1b[2J" in outputs[1] and "p\\x1b[2J" in outputs[2] and "bad\\x1b" in outputs[3]


# --- 7: numeric options are validated at the CLI and in TrainSettings --------------------------


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--seed", "-1", "from 0 to 4,294,967,295"),
        ("--seed", "4294967296", "from 0 to 4,294,967,295"),
        ("--epochs", "0", "from 1 to 10,000"),
        ("--batch-size", "-5", "from 1 to 65,536"),
        ("--learning-rate", "nan", "above 0 and at most 10"),
        ("--validation-split", "1.5", "above 0 and below 0.9"),
        ("--unfreeze", "-1", "from 0 to 10,000"),
    ],
)
def test_numeric_train_options_exit_2_with_the_range(option, value, words, capsys):
    from lib.cli import main

    with pytest.raises(SystemExit) as info:
        main(["train", "digits", "--model", "mlp", option, value])
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and len(err.splitlines()) == 1 and err.startswith("error: ")
    assert option in err and words in err


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [("seed", -1, "from 0 to 4,294,967,295"), ("seed", 2**32, "4,294,967,295"), ("epochs", 0, "from 1"),
     ("batch_size", 10**9, "65,536"), ("seed", 1.5, "whole number"), ("learning_rate", float("inf"), "at most 10")],
)  # fmt: skip
def test_train_settings_check_names_the_range(field, value, words):
    with pytest.raises(SettingsError, match=words):
        TrainSettings("mlp", **{field: value}).check()


# --- 12: study --epochs 0, and one image per class ----------------------------------------------


def test_study_epochs_0_is_refused_not_silently_5():
    line = _one_line_error(cli("study", "digits", "--epochs", "0"))
    assert "--epochs" in line and "from 1 to 10,000" in line


def test_one_image_per_class_says_more_images_not_a_larger_split():
    rng = np.random.default_rng(0)
    ds = Dataset("one each", rng.integers(0, 255, (3, 8, 8, 1), dtype=np.uint8), np.arange(3),
                 rng.integers(0, 255, (3, 8, 8, 1), dtype=np.uint8), np.arange(3), ("a", "b", "c"))  # fmt: skip
    with pytest.raises(SettingsError) as info:
        train(ds, TrainSettings("mlp", epochs=1, validation_split=0.5))
    text = str(info.value)
    assert "larger validation split" not in text and "one training image" in text and "more image" in text


# --- 11: a full disk: the reason is in the one line ---------------------------------------------


def test_os_reason_takes_the_reason_out_of_copytrees_list(tmp_path):
    dst = str(tmp_path / "tb" / "events")
    full = shutil.Error([(str(tmp_path / "events"), dst, str(OSError(28, "No space left on device", dst)))])
    assert os_reason(full) == "No space left on device"
    try:
        raise RuntimeError("saving failed") from OSError(28, "No space left on device")
    except RuntimeError as exc:
        assert os_reason(exc) == "No space left on device"


def test_store_error_from_copytree_names_the_reason_not_a_list(tmp_path):

    tb = tmp_path / "tb"
    tb.mkdir()
    os.mkfifo(tb / "events.pipe")  # copytree gathers "is a named pipe" into its list
    store = RunStore(tmp_path / "runs")
    from lib.data.sources import load_digits
    from lib.runs.config import RunConfig

    ds = load_digits()
    settings = TrainSettings("mlp", epochs=1)
    result = train(ds, settings)
    with pytest.raises(StoreError) as info:
        store.save(RunConfig.for_training(ds, settings, "digits"), result, ds.class_names, tb_source=tb)
    text = str(info.value)
    assert "[(" not in text and "named pipe" in text and len(text) < 300
    assert not any(p.name.startswith(".tmp") for p in (tmp_path / "runs").iterdir())  # nothing half-written


def test_cli_train_when_files_cannot_grow_is_one_line_with_the_reason(tmp_path):
    """A file-size limit makes every write past 4 kB fail (EFBIG), the way a full disk does."""
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "from lib.cli import main\n"
        f"store = {str(tmp_path / 'runs')!r}\n"
        "sys.exit(main(['train', 'digits', '--model', 'mlp', '--epochs', '1', '--store', store]))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    line = _one_line_error(subprocess.CompletedProcess(r.args, r.returncode, r.stdout, "\n".join(
        x for x in r.stderr.splitlines() if x.startswith("error:"))))  # fmt: skip
    assert "File too large" in line
    assert not (tmp_path / "runs").exists() or not [p for p in (tmp_path / "runs").iterdir() if p.name[0] != "."]


# --- 5: a class folder that is a link out of the data root is never listed ----------------------


def test_a_class_folder_linking_outside_the_root_is_not_listed(tmp_path, monkeypatch):
    from lib.data.sources import DatasetSpec, load_dataset

    root = tmp_path / "served"
    make_folder(root / "pets", {"a": 3, "b": 3})
    make_folder(root / "split" / "train", {"a": 3, "b": 3})
    make_folder(root / "split" / "test", {"a": 1, "b": 1})
    make_folder(tmp_path / "private", {"secrets": 2})
    (tmp_path / "private" / "secrets" / "passwords-2026.png").write_bytes(b"x")
    (root / "pets" / "leak").symlink_to(tmp_path / "private" / "secrets")
    (root / "split" / "train" / "leak").symlink_to(tmp_path / "private" / "secrets")
    monkeypatch.setenv("EXPLORER_DATA_ROOT", str(root))
    for folder in ("pets", "split"):
        ds = load_dataset(DatasetSpec("folder", str(root / folder)))
        text = " ".join(ds.notes)
        assert ds.class_names == ("a", "b")
        assert "passwords" not in text and "0.png" not in text, text
        assert "links leading outside the data folder were left out (1): " in text and "leak" in text


# --- 8: strips of 1 x 100 pixels show, on the Dataset page and wherever images are shown --------


@pytest.mark.parametrize("shape", [(1, 100), (100, 1, 3), (2, 300, 1)])
def test_strips_are_framed_so_a_fixed_width_keeps_them_visible(shape):
    from lib.ui.images import MAX_ASPECT, for_display

    img = np.zeros(shape, np.uint8)
    out = for_display(img)
    h, w = out.shape[:2]
    assert max(h, w) <= MAX_ASPECT * min(h, w)
    assert round(72 * h / w) > 0 and round(72 * w / h) > 0  # Streamlit's resize to 72 px keeps both sides
    assert (out == 0).any() and (out == 255).any()  # the strip itself, in its white frame


def test_dataset_page_shows_a_folder_of_strips(tmp_path):
    from tests.helpers import app_on_page

    for size in ((100, 1), (1, 100)):
        folder = tmp_path / f"strips{size[0]}"
        make_folder(folder, {"a": 4, "b": 4}, size=size)
        app = app_on_page()
        app.selectbox(key="source_choice").select("folder").run()
        app.text_input(key="folder_path").input(str(folder))
        app.button(key="load_folder").click().run()
        assert not app.exception, [e.value for e in app.exception]
        assert {m.label: m.value for m in app.metric}["Image shape"] == f"{size[1]}x{size[0]}x3"


def test_train_page_trains_and_shows_its_pictures_of_strips(tmp_path):
    """The Train page's pictures (the most confident mistakes, a cell's images) of 1x100 strips:
    no `height and width must be > 0`, the run complete."""
    from tests.helpers import app_on_page

    folder = make_folder(tmp_path / "strips", {"a": 10, "b": 10}, size=(1, 100))
    app = app_on_page()
    app.selectbox(key="source_choice").select("folder").run()
    app.text_input(key="folder_path").input(str(folder))
    app.button(key="load_folder").click().run()
    app.switch_page("pages/train_evaluate.py").run()
    app.selectbox(key="train_model").select("mlp")
    app.number_input(key="train_epochs").set_value(1)
    app.button(key="train_button").click().run()
    assert not app.exception, [e.value for e in app.exception]
    # (random strips: the run may well predict one class, which the page warns about)
    assert any("complete" in s.value for s in [*app.success, *app.warning]), [w.value for w in app.warning]
    assert len(app.get("image")) > 0  # the pictures are drawn


# --- 9: shared links: a fraction the slider cannot show, a path outside the data root ----------


def test_a_link_with_a_tiny_imbalance_settles_on_the_sliders_value():
    from streamlit.testing.v1 import AppTest

    from lib.ui import state

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    at.query_params["dataset"] = "digits"
    at.query_params["imbalance"] = "0:0.004"
    at.run()  # before: 399 reruns in 15 s, never settling
    assert not at.exception
    assert at.session_state[state.IMBALANCE] == (0, 0.05)
    assert at.slider(key="imbalance_keep").value == 5
    at.run()
    assert at.session_state[state.IMBALANCE] == (0, 0.05)


def test_a_link_to_a_path_outside_the_data_root_keeps_saying_why(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    served = tmp_path / "served"
    served.mkdir()
    make_folder(tmp_path / "elsewhere", {"a": 3, "b": 3})
    monkeypatch.setenv("EXPLORER_DATA_ROOT", str(served))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    at.query_params["dataset"] = "folder"
    at.query_params["path"] = str(tmp_path / "elsewhere")
    at.run()
    for page in (None, "pages/augmentation.py", "pages/dataset.py"):
        if page:
            at.switch_page(page).run()
        assert not at.exception
        errors = " ".join(e.value for e in at.sidebar.error)
        assert "outside the data folder" in errors and "Still using" in errors, (page, errors)


# --- 10: a run's data is found again from any working folder, or it says why not ---------------


def test_report_and_predict_find_folder_and_npz_data_from_another_folder(tmp_path, monkeypatch, capsys):
    from lib.cli import main
    from tests.helpers import save_npz, tiny_arrays

    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir(), elsewhere.mkdir()
    make_folder(work / "flowers", {"daisy": 4, "rose": 4}, size=(8, 8))
    save_npz(work / "flowers.npz", **tiny_arrays())
    (work / "aug.json").write_text('{"featurewise_center": true}')  # predict then needs the data
    store = str(tmp_path / "runs")

    def run(*args, cwd) -> tuple[int, str, str]:
        monkeypatch.chdir(cwd)
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    ids = {}
    for data in ("flowers", "flowers.npz"):
        code, out, err = run("train", data, "--model", "mlp", "--epochs", "1", "--augment", "aug.json",
                             "--store", store, cwd=work)  # fmt: skip
        assert code == 0, err
        ids[data] = out.split("run id: ")[1].split()[0]
    picture = str(write_image(tmp_path / "p.png", (8, 8)))
    code, out, err = run("report", ids["flowers"], "--store", store, "--html", "r.html", cwd=elsewhere)
    assert code == 0 and "mistakes are shown without images" not in out, out[-800:]
    for run_id in ids.values():
        code, out, err = run("predict", run_id, picture, "--store", store, cwd=elsewhere)
        assert code == 0 and " 1. " in out, err
    # Moved: it says so, and --data points to the new place.
    (work / "flowers.npz").rename(tmp_path / "moved.npz")
    code, out, err = run("predict", ids["flowers.npz"], picture, "--store", store, cwd=elsewhere)
    assert code == 2 and "cannot be loaded from" in err and "flowers.npz" in err and "--data" in err, err
    code, out, err = run("predict", ids["flowers.npz"], picture, "--store", store, "--data", "../moved.npz",
                         cwd=elsewhere)  # fmt: skip
    assert code == 0, err
    # Changed: it says so.
    write_image(work / "flowers" / "rose" / "new.png", (8, 8), seed=99)
    code, out, err = run("predict", ids["flowers"], picture, "--store", store, cwd=elsewhere)
    assert code == 2 and "has changed since run" in err and "fingerprint" in err, err
    assert len(err.strip().splitlines()) == 1


# --- 3: many classes cost memory in proportion; the TensorBoard picture has a stated limit -----


def test_many_classes_skip_the_tensorboard_picture_with_a_note_and_the_cli_matrix(tmp_path, monkeypatch, capsys):
    from lib.cli import PRINTED_MATRIX_MAX_CLASSES, main
    from lib.train.callbacks import TB_PICTURE_MAX_CLASSES
    from tests.helpers import save_npz

    k = TB_PICTURE_MAX_CLASSES + 1
    rng = np.random.default_rng(0)
    save_npz(tmp_path / "many.npz", X_train=rng.integers(0, 256, (3 * k, 4, 4), dtype=np.uint8),
             y_train=np.repeat(np.arange(k), 3), X_test=rng.integers(0, 256, (k, 4, 4), dtype=np.uint8),
             y_test=np.arange(k))  # fmt: skip
    store = tmp_path / "runs"
    assert main(["train", str(tmp_path / "many.npz"), "--model", "mlp", "--epochs", "1", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert f"TensorBoard gets no confusion-matrix picture: {k:,} classes (it is drawn for at most 100)" in out
    assert f"confusion matrix not printed: {k:,} classes (printed for at most {PRINTED_MATRIX_MAX_CLASSES})" in out
    run_id = out.split("run id: ")[1].split()[0]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(store / run_id / "tb"), size_guidance={"images": 0}).Reload()
    assert events.Tags()["images"] == [] and "val_accuracy" in events.Tags()["scalars"]
    notes = RunStore(store).load(run_id).record.notes
    assert any("no confusion-matrix picture" in n for n in notes)  # the run says so too


def test_up_to_the_limit_the_picture_is_drawn(tmp_path):
    from lib.train.callbacks import tensorboard_summary

    cm = np.eye(3, dtype=np.int64)
    with_picture = tensorboard_summary({"epoch": 1, "loss": 0.5}, cm, ("a", "b", "c"))
    without = tensorboard_summary({"epoch": 1, "loss": 0.5}, cm, ("a", "b", "c"), picture=False)
    assert [v.tag for v in with_picture.value] == ["loss", "val_confusion_by_true_class"]
    assert [v.tag for v in without.value] == ["loss"]
