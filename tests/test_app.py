"""AppTest: the router, the sidebar and the Dataset page, run as Streamlit runs them."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from lib.ui import state
from tests.helpers import ROOT, app_on_page, make_folder, save_npz, tiny_arrays

APP = str(ROOT / "streamlit_app.py")


@pytest.fixture
def app() -> AppTest:
    return app_on_page()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_opens_on_dataset_page_with_digits(app):
    assert app.title[0].value == "1 · Dataset"
    assert metrics(app)["Train images"] == "1,347"
    assert metrics(app)["Image shape"] == "8x8x1"
    assert any("digits" in m.value for m in app.sidebar.markdown)
    assert any("Majority-class baseline" in m.value for m in app.markdown)
    assert len(app.get("image")) == 10  # sample grid: one row per class


def test_switch_to_shapes_warns_about_imbalance(app):
    app.selectbox(key="source_choice").select("shapes").run()
    assert not app.exception
    assert metrics(app)["Classes"] == "3"
    assert any("unbalanced" in w.value for w in app.warning)
    assert any("58% accuracy" in m.value for m in app.markdown)


def test_offline_keras_dataset_keeps_previous_dataset(app, offline):
    app.selectbox(key="source_choice").select("cifar10").run()
    assert not app.exception
    assert any("Could not load cifar10" in e.value and "Still using digits" in e.value for e in app.sidebar.error)
    assert metrics(app)["Train images"] == "1,347"
    app.run()  # a rerun does not retry the download; it says the same thing
    assert any("Could not load cifar10" in e.value for e in app.sidebar.error)


def test_bad_folder_then_good_folder(app, tmp_path):
    app.selectbox(key="source_choice").select("folder").run()
    make_folder(tmp_path / "one", {"only": 3})
    app.text_input(key="folder_path").input(str(tmp_path / "one"))
    app.button(key="load_folder").click().run()
    assert any("at least 2" in e.value for e in app.sidebar.error)
    assert metrics(app)["Classes"] == "10"  # digits still in use
    bars = [el for el in app.sidebar if el.type == "progress"]  # no stuck "Loading folder…" bar
    assert not bars, [b.proto for b in bars]

    make_folder(tmp_path / "two", {"cats": 6, "dogs": 4}, size=(12, 12))
    app.text_input(key="folder_path").input(str(tmp_path / "two"))
    app.button(key="load_folder").click().run()
    assert not app.exception
    assert metrics(app)["Classes"] == "2" and metrics(app)["Image shape"] == "12x12x3"


def test_npz_path_with_wrong_keys_is_reported(app, tmp_path):
    arrays = tiny_arrays()
    arrays["images"] = arrays.pop("X_train")
    path = save_npz(tmp_path / "wrong.npz", **arrays)
    app.selectbox(key="source_choice").select("npz").run()
    app.text_input(key="npz_path").input(str(path))
    app.button(key="load_npz").click().run()
    assert not app.exception
    assert any("missing X_train" in e.value for e in app.sidebar.error)


def test_imbalance_control_subsamples_training_class(app):
    app.selectbox(key="source_choice").select("shapes").run()
    app.selectbox(key="imbalance_class").select(0)
    app.slider(key="imbalance_keep").set_value(25).run()
    assert not app.exception
    assert app.session_state[state.IMBALANCE] == (0, 0.25)
    assert metrics(app)["Train images"] == f"{30 + 60 + 28}"
    assert metrics(app)["Test images"] == "52"
    assert any("kept 30 of 120 'circle'" in i.value for i in app.info)
    # The panel stays open after the change (it used to come back closed after every slider move).
    panel = next(e for e in app.expander if e.label.startswith("Create imbalance"))
    assert panel.proto.expanded
    app.slider(key="imbalance_keep").set_value(50).run()
    panel = next(e for e in app.expander if e.label.startswith("Create imbalance"))
    assert panel.proto.expanded and app.session_state[state.IMBALANCE] == (0, 0.5)


def test_sample_grid_follows_class_choice(app):
    app.selectbox(key="sample_class").select(3).run()
    assert not app.exception
    captions = [c for img in app.get("image") for c in img.captions]
    assert len(captions) == 6 and all(c.startswith("3 #") for c in captions)


def test_show_code_for_current_dataset(app):
    code = [c.value for c in app.code]
    assert any("load_digits" in c for c in code)


def test_landing_page_does_not_import_tensorflow():
    """The Dataset page must open in seconds: TensorFlow is imported only where a model is needed."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({APP!r}, default_timeout=60).run()\n"
        "assert not at.exception, at.exception\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False False", out.stderr[-2000:]


def test_a_rerun_leaves_keras_state_alone():
    """Streamlit clears Keras' global state after every rerun once Keras is imported (for every
    session thread at once, with a ~100 ms garbage collection holding the GIL); the router turns
    that off (lib.ui.serve.keep_keras_state)."""
    from keras.src.backend.common import global_state

    from lib.tf_import import import_keras
    from tests.helpers import app_on_page

    import_keras()
    before = global_state.GLOBAL_STATE_TRACKER
    at = app_on_page("pages/augmentation.py")
    at.run()
    assert global_state.GLOBAL_STATE_TRACKER is before
