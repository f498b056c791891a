"""AppTest: Look inside shows every stored run of the dataset and never trains."""

from __future__ import annotations

import pytest

from lib.data.sources import load_digits
from lib.runs.store import RunStore
from lib.runs.train_or_load import train_or_load
from lib.train.training import TrainSettings
from lib.ui import inspect_views, state
from tests.helpers import app_on_page

pytestmark = pytest.mark.slow

PAGE = "pages/inspect.py"


def test_without_a_run_the_page_says_what_to_do():
    at = app_on_page(PAGE)
    assert any("No stored run for this dataset yet" in i.value for i in at.info)


@pytest.fixture
def two_runs(run_store):
    ds = load_digits()
    store = RunStore(run_store)
    return {kind: train_or_load(ds, TrainSettings(kind, epochs=1), "digits", store).run_id for kind in ("cnn", "mlp")}


def test_every_tab_renders_for_a_cnn_and_an_mlp(two_runs, monkeypatch):
    import lib.train.training as training

    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("Look inside must never train"))
    at = app_on_page(PAGE)
    at.selectbox(key=state.INSPECT_RUN).set_value(two_runs["cnn"]).run()
    assert not at.exception, at.exception
    assert at.tabs and [t.label for t in at.tabs] == [
        "Try it",
        "Where it looks",
        "Curves per class",
        "Map of what it learned",
        "Report",
    ]
    # Try it: test image 0, its stored prediction reproduced
    assert any(c.value.startswith("Same as the stored test prediction") for c in at.caption)
    assert {m.label for m in at.metric} >= {"Predicted", "Expected calibration error"}
    assert at.selectbox(key=inspect_views.run_key("cam_layer", at.session_state[state.INSPECT_RUN])).value is not None
    assert any("HiResCAM at" in c.value for c in at.caption)
    at.number_input(key="try_index").set_value(5).run()
    at.radio(key="cam_method").set_value("gradcam").run()
    assert any("Grad-CAM at" in c.value for c in at.caption)
    at.slider(key="curve_threshold").set_value(0.8).run()
    assert not at.exception, at.exception
    at.slider(key="curve_threshold").set_value(1.0).run()  # hardly any p is exactly 1: precision undefined
    assert any(c.value.startswith("n/a: no image is predicted as that class") for c in at.caption)
    # t-SNE: pressing Compute shows it (the map switches to it) and the button is not offered again.
    at.button(key="tsne_button").click().run()
    assert at.radio(key="map_method").value == "t-SNE" and not [b for b in at.button if b.key == "tsne_button"]
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert len(charts) >= 6  # probabilities, ROC, PR, threshold, reliability, map
    # The report is built on request, then offered for download.
    at.button(key="report_build").click().run()
    assert any("self-contained" in c.value for c in at.caption)
    # The MLP: saliency, labelled as such.
    at.selectbox(key=state.INSPECT_RUN).set_value(two_runs["mlp"]).run()
    assert not at.exception, at.exception
    assert any("gradient × input" in c.value for c in at.caption)


def test_upload_and_camera_sources_show_their_widgets(two_runs):
    at = app_on_page(PAGE)
    at.radio(key="try_source").set_value("upload an image").run()
    assert not at.exception
    assert any("Choose a test image, upload one or take a photo" in c.value for c in at.caption)
    # AppTest cannot put a file into st.file_uploader or st.camera_input: the library tests
    # decode uploads (tests/test_inspect.py) and the browser test opens the page.
    assert at.get("file_uploader")
    at.radio(key="try_source").set_value("take a photo").run()
    assert not at.exception and at.get("camera_input")


def test_user_text_is_inert_in_markdown():
    from lib.ui.inspect_views import md

    escaped = md("![x](http://example.com/a.png) *bold* <b>")
    assert escaped == r"\!\[x\]\(http://example\.com/a\.png\) \*bold\* \<b\>"


def test_where_it_looks_rebuilds_its_choices_from_the_run_switched_to(two_runs, run_store):
    """Switching the run rebuilds the layer and mistake lists from that run (they once kept the
    previous run's labels): each list is exactly the chosen run's conv layers and test mistakes."""
    from lib.evaluate import explain, metrics
    from lib.ui import cache

    ds = load_digits()
    deep = train_or_load(ds, TrainSettings("deep_cnn", epochs=1), "digits", RunStore(run_store)).run_id
    at = app_on_page(PAGE)
    seen = {}
    for run_id in (two_runs["cnn"], deep, two_runs["cnn"]):
        at.selectbox(key=state.INSPECT_RUN).set_value(run_id).run()
        assert not at.exception, at.exception
        run = RunStore(run_store).load(run_id)
        layers = explain.conv_layers(cache.run_model(run_store, run_id))
        box = at.selectbox(key=inspect_views.run_key("cam_layer", run_id))
        assert [o.split(" · ")[0] for o in box.options] == [layer.label for layer in layers]
        assert box.value == len(layers) - 1  # this run's last conv layer, whatever was picked before
        mistakes = at.selectbox(key=inspect_views.run_key("cam_mistake", run_id))
        expected = [f"#{int(m)}:" for m in metrics.confident_mistakes(run.y_true, run.y_prob, 24)]
        assert [o.split(" ")[0] for o in mistakes.options] == expected
        seen[run_id] = tuple(box.options)
        if run_id == deep:
            box.set_value(0).run()  # a pick on this run stays with this run
    assert seen[deep] != seen[two_runs["cnn"]]
