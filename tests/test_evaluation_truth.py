"""What the evaluation views claim, checked on a trained model: the shuffle trap's fixes."""

from __future__ import annotations

import numpy as np
import pytest

from lib.augment import settings as augment
from lib.data.sources import load_digits
from lib.evaluate import traps
from lib.train.training import TrainSettings, train
from lib.train.whole_model import core_of

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits_model():
    ds = load_digits()
    result = train(ds, TrainSettings(model="mlp", epochs=3))
    # the classifier inside the whole model: it takes the generator's rescaled images, as the
    # traps on the page get it (StoredRun.load_model)
    return ds, core_of(result.model)


def test_shuffle_trap_fixes_give_the_true_accuracy_and_reset_does_not(digits_model):
    ds, model = digits_model
    gen = augment.make_generator(augment.check({"rescale": 1 / 255}))
    result = traps.generator_order(model, gen, ds.x_test, ds.y_test)
    true = result[traps.EVALUATE]
    assert true > 0.6
    assert result[traps.ORDERED] == pytest.approx(true, abs=1e-6)
    assert result[traps.LABELS_KEPT] == pytest.approx(true, abs=1e-6)
    for wrong in (traps.SHUFFLED, traps.RESET, traps.REALIGNED):
        assert result[wrong] < 0.3, wrong  # about chance (1 in 10), nowhere near the true accuracy

    # The code the page shows as the fixes, run as it is.
    scope = {"np": np, "datagen": gen, "model": model, "x_test": ds.x_test.astype(np.float32), "y_test": ds.y_test}
    exec(traps.ORDER_FIX_CODE, scope)
    assert (scope["y_pred"] == ds.y_test).mean() == pytest.approx(true, abs=1e-6)
    assert (scope["y_pred2"] == scope["y_true"]).mean() == pytest.approx(true, abs=1e-6)
    assert sorted(scope["y_true"]) == sorted(ds.y_test)


def test_predict_reshuffles_the_index_array_which_is_why_realigning_fails(digits_model):
    """The reason the page gives: Keras 3's predict calls on_epoch_end after its pass."""
    ds, model = digits_model
    gen = augment.make_generator(augment.check({"rescale": 1 / 255}))
    it = gen.flow(ds.x_test.astype(np.float32), batch_size=32, shuffle=True, seed=0)
    it._set_index_array()
    used = it.index_array.copy()
    pred = model.predict(it, verbose=0).argmax(1)
    assert not np.array_equal(used, it.index_array)
    assert (pred == ds.y_test[used]).mean() > 0.6 > (pred == ds.y_test[it.index_array]).mean()


def test_a_collapsed_run_is_not_reported_as_a_plain_success(tmp_path, capsys):
    """sgd at learning rate 1.0: the CNN predicts one digit for every image (10.2% = baseline)."""
    from lib.cli import main
    from lib.evaluate.collapse import check_collapse
    from lib.runs.store import RunStore
    from lib.runs.train_or_load import train_or_load

    store = RunStore(tmp_path)
    settings = TrainSettings(model="cnn", epochs=2, optimizer="sgd", learning_rate=1.0)
    outcome = train_or_load(load_digits(), settings, "digits", store)
    run = store.load(outcome.run_id)
    assert run.status == "complete"
    collapse = check_collapse(run.test_confusion, run.record.baseline.accuracy, run.settings, run.class_names)
    assert collapse is not None and "learning rate 1 is large" in collapse.sentence()
    assert main(["report", outcome.run_id, "--store", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "warning: This model has not learned the task" in out and "majority baseline" in out


def test_show_code_reads_the_runs_own_file_in_the_store_in_use(tmp_path, capsys):
    """The store is $EXPLORER_RUNS here (a temporary folder), not runs/: the code still runs."""
    from lib.runs.store import RunStore
    from lib.runs.train_or_load import train_or_load
    from lib.ui.run_views import evaluation_code

    store = RunStore(tmp_path / "elsewhere")
    run = store.load(train_or_load(load_digits(), TrainSettings(model="mlp", epochs=1), "digits", store).run_id)
    code = evaluation_code(run)
    assert str(tmp_path / "elsewhere" / run.run_id / "test_predictions.npz") in code and "runs/" not in code
    exec(code, {})
    out = capsys.readouterr().out
    assert "balanced accuracy" in out and "macro avg" in out


def test_a_training_ended_by_the_page_says_what_can_have_ended_it():
    """Streamlit ends the script the same way for Stop, a reload, a closed tab or leaving the page."""
    from lib.train.callbacks import INTERRUPTED

    class ScriptEnded(BaseException):  # what Streamlit raises in the running script (StopException)
        pass

    def end_in_second_epoch(epoch, batch, steps):
        if epoch == 1 and batch == 2:
            raise ScriptEnded()

    result = train(load_digits(), TrainSettings(model="mlp", epochs=5), on_batch=end_in_second_epoch)
    assert result.status == "stopped" and isinstance(result.interrupt, ScriptEnded)
    assert result.message == f"stopped during epoch 2: {INTERRUPTED}"
    assert "reloaded, closed or left" in INTERRUPTED and len(result.history) == 1
