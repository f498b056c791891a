"""AppTest: Train & Evaluate trains on a button press and shows the evaluation."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from lib.augment import settings as augment
from lib.runs.store import RunStore, default_root
from lib.ui import state
from tests.helpers import app_on_page

pytestmark = pytest.mark.slow


@pytest.fixture
def page() -> AppTest:
    return app_on_page("pages/train_evaluate.py")


def metric_values(at):
    return {m.label: m.value for m in at.metric}


def test_nothing_trains_until_the_button(page):
    assert any("No run for this dataset yet" in i.value for i in page.info)
    assert page.button(key="train_button").label == "Train"
    assert not page.metric


def test_a_disabled_augmentation_box_says_why(page):
    """No augmentation settings in the session (the Augmentation page not visited, no ?augment=):
    the box is greyed out and a caption under it says why; with settings it is on offer, no caption."""
    assert page.checkbox(key="train_augment").disabled
    assert any("there are no augmentation settings" in c.value for c in page.caption)
    page.session_state[state.AUGMENT] = augment.default_config()  # settings that change no image
    page.run()
    assert page.checkbox(key="train_augment").disabled
    assert any("settings change no image" in c.value for c in page.caption)
    page.session_state[state.AUGMENT] = augment.preset("mild")
    page.run()
    assert not page.checkbox(key="train_augment").disabled
    assert not any("Augmentation cannot be switched on" in c.value for c in page.caption)


def test_train_two_epochs_then_evaluate_and_load_from_store(page):
    page.selectbox(key="train_model").select("mlp")
    page.number_input(key="train_epochs").set_value(2)
    page.button(key="train_button").click().run()
    assert not page.exception, page.exception
    run_id = page.session_state[state.CURRENT_RUN]
    assert any("mlp · 2 ep · no aug · seed 0" in s.value and "complete" in s.value for s in page.success)
    assert any(f"Run id `{run_id}`" in c.value for c in page.caption)
    # What the download takes and gives, under its button (digits: 8x8x1, classes 0..9 in order).
    assert any(
        "model.keras takes uint8 images, pixel values 0 to 255, shape (N, 8, 8, 1), and gives one probability "
        "per class in this order: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9." in c.value.replace("\\", "")
        for c in page.caption
    ), [c.value for c in page.caption]
    values = metric_values(page)
    assert set(values) == {"accuracy", "balanced accuracy", "macro F1", "majority baseline"}
    assert float(values["accuracy"].rstrip("%")) > 30
    report = next(d.value for d in page.dataframe if "f1-score" in d.value.columns)
    assert {"precision", "recall", "support"} <= set(report.columns)
    assert "macro avg" in report.index and report.loc["accuracy", "support"] == 450
    assert len(page.get("vega_lite_chart") or page.get("arrow_vega_lite_chart")) >= 1
    # Same settings again: the button now loads, nothing is trained.
    page.run()
    assert page.button(key="train_button").label == "Load from store"
    page.button(key="train_button").click().run()
    assert page.session_state[state.CURRENT_RUN] == run_id
    page.radio(key="cm_normalize").set_value("by true class (recall)").run()
    assert not page.exception


def test_evaluation_traps_run_on_the_trained_model(page):
    page.selectbox(key="train_model").select("mlp")
    page.number_input(key="train_epochs").set_value(1)
    page.button(key="train_button").click().run()
    page.button(key="trap_order").click().run()
    assert not page.exception
    assert any("multilabel-indicator is not supported" in c.value for c in page.code)
    order = next(d.value for d in page.dataframe if "model.evaluate" in d.value.index)
    assert order.loc["shuffle=False (fixed)", "accuracy"] == pytest.approx(
        order.loc["model.evaluate", "accuracy"], abs=1e-6
    )
    assert order.loc["shuffle=True vs labels in order (wrong)", "accuracy"] < order.loc["model.evaluate", "accuracy"]


def test_unwritable_store_keeps_results_on_screen(page, tmp_path, monkeypatch):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    monkeypatch.setenv("EXPLORER_RUNS", str(blocker))
    page.selectbox(key="train_model").select("mlp")
    page.number_input(key="train_epochs").set_value(1)
    page.button(key="train_button").click().run()
    assert not page.exception, page.exception
    assert any("could not be stored" in e.value for e in page.error)
    assert {m.label for m in page.metric} >= {"accuracy", "balanced accuracy"}
    page.run()  # still shown after a rerun
    assert any("Run id `unsaved`" in c.value for c in page.caption)


def test_transfer_learning_controls_offline_message_and_run_backbone(page, offline):
    page.selectbox(key="train_model").select("vgg16").run()
    offline_error = next(e.value for e in page.error if "ImageNet weights for vgg16 are not in" in e.value)
    assert offline_error.endswith("]"), offline_error  # whole, with its reason (the page cut it at 200 characters)
    page.selectbox(key="train_weights").select("none (random, NOT pretrained)").run()
    assert not page.error and "14,714,700 non-trainable" in page.expander[0].label
    # A run of our own becomes a backbone: fully offline.
    page.selectbox(key="train_model").select("mlp")
    page.number_input(key="train_epochs").set_value(1)
    page.button(key="train_button").click().run()
    first = page.session_state[state.CURRENT_RUN]
    page.run()
    box = page.selectbox(key="train_model")  # the run is offered by its name, not its id
    assert box.format_func(f"run:{first}") == "backbone from run mlp · 1 ep · no aug · seed 0 (mlp on digits)"
    page.selectbox(key="train_model").select(f"run:{first}").run()
    page.radio(key="train_transfer").set_value("fine_tune").run()
    page.button(key="train_button").click().run()
    assert not page.exception, page.exception
    assert page.session_state[state.CURRENT_RUN] != first
    assert any(f"backbone run:{first}: pretrained" in c.value for c in page.caption)


def test_a_typed_run_name_is_what_the_run_is_called(page):
    page.selectbox(key="train_model").select("mlp")
    page.number_input(key="train_epochs").set_value(1)
    page.text_input(key="train_run_name").input("first ![try](http://x/y.png) run").run()
    page.button(key="train_button").click().run()
    assert not page.exception, page.exception
    assert any("**first try (http://x/y.png) run**" in s.value for s in page.success)  # no image syntax left
    run = RunStore().load(page.session_state[state.CURRENT_RUN])
    assert run.record.name == "first try (http://x/y.png) run"


def test_a_collapsed_run_gets_a_warning_banner_not_a_green_complete(page):
    page.selectbox(key="train_model").select("cnn")
    page.number_input(key="train_epochs").set_value(2)
    page.selectbox(key="train_optimizer").select("sgd")
    page.select_slider(key="train_lr").set_value(1.0)
    page.button(key="train_button").click().run()
    assert not page.exception, page.exception
    run_id = page.session_state[state.CURRENT_RUN]
    assert any(f"Run id `{run_id}`" in c.value for c in page.caption)
    assert not any("cnn · 2 ep" in s.value for s in page.success)  # no green "complete" for this run
    banner = next(w.value for w in page.warning if "cnn · 2 ep" in w.value)
    assert "has not learned the task" in banner and "majority baseline" in banner
    assert "learning rate 1 is large" in banner and "too few epochs (2)" in banner


def test_the_first_pick_in_run_to_show_is_kept(run_store):
    """The widget key used to be built from the current run: the first pick was dropped on the
    next rerun and the Report CSV then came from another run."""
    from lib.data.sources import load_digits
    from lib.runs.store import RunStore
    from lib.runs.train_or_load import train_or_load
    from lib.train.settings import TrainSettings
    from tests.helpers import app_on_page

    store = RunStore(run_store)
    ids = [
        train_or_load(load_digits(), TrainSettings(model=m, epochs=1), "digits", store).run_id for m in ("mlp", "cnn")
    ]
    at = app_on_page("pages/train_evaluate.py")

    def run_to_show():
        return next(s for s in at.selectbox if s.label == "Run to show")

    other = next(i for i in ids if i != run_to_show().value)
    run_to_show().set_value(other).run()
    assert not at.exception, at.exception
    for _ in range(2):  # the pick survives the next reruns (any other interaction)
        assert at.session_state[state.CURRENT_RUN] == other
        assert run_to_show().value == other
        assert any(f"Run id `{other}`" in c.value for c in at.caption)
        at.radio(key="cm_normalize").set_value("by true class (recall)").run()
        assert not at.exception, at.exception


def test_unfreeze_beyond_the_backbones_layers_is_said_on_the_page(run_store):
    from lib.data.sources import load_digits
    from lib.runs.store import RunStore
    from lib.runs.train_or_load import train_or_load
    from lib.train.settings import TrainSettings
    from tests.helpers import app_on_page

    run_id = train_or_load(load_digits(), TrainSettings(model="cnn", epochs=1), "digits", RunStore(run_store)).run_id
    at = app_on_page("pages/train_evaluate.py")
    at.selectbox(key="train_model").select(f"run:{run_id}").run()
    at.radio(key="train_transfer").set_value("fine_tune").run()
    assert not at.exception, at.exception
    assert at.number_input(key="train_unfreeze").value == 4
    assert any("only 3 layers with weights" in w.value and "not the 4 asked for" in w.value for w in at.warning)
    at.number_input(key="train_unfreeze").set_value(2).run()
    assert not any("only 3 layers with weights" in w.value for w in at.warning)


def test_mixed_precision_switch_trains_a_separate_16_bit_run(page):
    page.selectbox(key="train_model").select("mlp")
    page.number_input(key="train_epochs").set_value(1)
    page.button(key="train_button").click().run()
    float32_run = page.session_state[state.CURRENT_RUN]
    assert "mixed_bfloat16 on a CPU; here: mixed_bfloat16" in page.checkbox(key="train_mixed_precision").help
    page.checkbox(key="train_mixed_precision").check().run()
    assert page.button(key="train_button").label == "Train"  # not the float32 run: a new one
    page.button(key="train_button").click().run()
    assert not page.exception, page.exception
    mixed_run = page.session_state[state.CURRENT_RUN]
    assert mixed_run != float32_run
    assert any("mlp · 1 ep · no aug · seed 0 · mixed precision" in s.value for s in page.success)
    assert any("mixed precision (mixed_bfloat16): layers compute in bfloat16" in c.value for c in page.caption)
    record = RunStore(default_root()).load(mixed_run).record
    assert (
        record.settings.mixed_precision
        and not RunStore(default_root()).load(float32_run).record.settings.mixed_precision
    )


def test_switching_runs_rebuilds_the_views_that_depend_on_the_run(run_store):
    """The validation matrix's epoch slider is rebuilt from the run shown (a 3-epoch run at epoch 3,
    then a 2-epoch run: its own last epoch, no error); a chosen cell of the matrix is kept, as the
    two runs of one data set have the same classes."""
    from lib.data.sources import load_digits
    from lib.runs.train_or_load import train_or_load
    from lib.train.settings import TrainSettings

    store, ds = RunStore(run_store), load_digits()
    three = train_or_load(ds, TrainSettings(model="mlp", epochs=3), "digits", store).run_id
    two = train_or_load(ds, TrainSettings(model="mlp", epochs=2, seed=1), "digits", store).run_id
    at = app_on_page("pages/train_evaluate.py")

    def run_to_show():
        return next(s for s in at.selectbox if s.label == "Run to show")

    run_to_show().set_value(three).run()
    assert (at.slider(key="val_cm_epoch").value, at.slider(key="val_cm_epoch").max) == (3, 3)
    at.selectbox(key="cell_true").set_value(5).run()
    run_to_show().set_value(two).run()
    assert not at.exception, at.exception
    assert (at.slider(key="val_cm_epoch").value, at.slider(key="val_cm_epoch").max) == (2, 2)
    assert at.selectbox(key="cell_true").value == 5
    assert any(f"Run id `{two}`" in c.value for c in at.caption)
