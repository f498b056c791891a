"""Views of one run on Train & Evaluate: curves, per-class metrics, confusion matrices,
report, galleries, the evaluation traps and the code. Computation lives in lib.metrics,
lib.charts and lib.traps; these functions only draw."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from lib import charts
from lib.augment import settings as augment
from lib.data.dataset import Dataset
from lib.data.stats import majority_baseline
from lib.evaluate import metrics, traps
from lib.evaluate.collapse import check_collapse
from lib.i18n import N_, _
from lib.runs.store import StoredRun
from lib.ui import cache, present
from lib.ui.images import for_display
from lib.ui.run_notes import shown_note
from lib.ui.table_labels import STATUS, header
from lib.ui.text import md

STATUS_BOX = {"complete": st.success, "stopped": st.warning, "failed": st.error}
METRIC_LABELS = {"recall": N_("recall"), "precision": N_("precision"), "f1": N_("f1")}
# scikit-learn's summary rows of the classification report, as shown (the DataFrame keeps its names)
REPORT_ROWS = {"accuracy": N_("accuracy"), "macro avg": N_("macro avg"), "weighted avg": N_("weighted avg")}


def table_height(rows: int) -> int:
    """Pixels for a st.dataframe that shows `rows` rows and its header without scrolling."""
    return 35 * (rows + 1) + 3


def majority_class(run: StoredRun, ds: Dataset) -> int | None:
    """The training split's majority class: recorded in the run, or (for runs stored before
    that) taken from the current dataset when it is the run's dataset."""
    if run.record.baseline is not None:
        return run.record.baseline.class_index
    if run.record.dataset.fingerprint == ds.fingerprint:
        return majority_baseline(ds).class_index
    return None


def run_header_ui(run: StoredRun) -> None:
    r = run.record
    s = r.settings
    collapse = (
        check_collapse(run.test_confusion, r.baseline.accuracy if r.baseline else None, s, run.class_names)
        if run.status == "complete" and not r.config.is_uploaded
        else None
    )
    box = st.warning if collapse is not None else STATUS_BOX.get(run.status, st.info)
    status = _(STATUS[run.status]) if run.status in STATUS else run.status
    line = (
        _("**{name}** · {progress} · status **{status}** — {message}")
        if run.status == "complete"
        else _(
            "**{name}** · {progress} · status **{status}** — {message} · not a finished run: its numbers "
            "describe a partly trained model"
        )
    ).format(name=md(r.display_name), progress=progress_text(run), status=md(status), message=md(shown_note(r.message)))
    box(line + (f"\n\n**{md(collapse.sentence())}**" if collapse is not None else ""))
    # Presenting: the details fold away, so the evaluation starts on the first screen.
    with st.expander(_("Run details")) if present.presenting() else st.container():
        _run_details_ui(run)


def _run_details_ui(run: StoredRun) -> None:
    r, s = run.record, run.record.settings
    st.caption(_("Run id `{run_id}` · model {model}").format(run_id=run.run_id, model=md(r.model)))
    for note in r.notes:
        st.caption(md(shown_note(note)))
    if r.seconds and not r.config.is_uploaded:
        took = (
            _("Training took {seconds} s · augmentation on · seed {seed} · validation {share} of the training split")
            if s.augment
            else _(
                "Training took {seconds} s · augmentation off · seed {seed} · validation {share} of the training split"
            )
        )
        st.caption(took.format(seconds=f"{r.seconds:.1f}", seed=s.seed, share=f"{s.validation_split:.0%}"))


def progress_text(run: StoredRun) -> str:
    """Epochs trained, or, for a model trained elsewhere, that it was only evaluated here."""
    r = run.record
    if r.config.is_uploaded:
        return _("trained elsewhere, evaluated here on the test set")
    return _("{done}/{total} epochs").format(done=r.epochs_done, total=r.settings.epochs)


def curves_ui(run: StoredRun) -> None:
    h = run.history
    if h.empty:
        st.info(_("No epoch finished, so there are no curves."))
        return
    c1, c2 = st.columns(2)
    cache.altair_chart(c1, charts.curves_chart, h, "loss", cache_key=cache.run_key(run), width="stretch")
    cache.altair_chart(c2, charts.curves_chart, h, "accuracy", cache_key=cache.run_key(run), width="stretch")
    gap = h["accuracy"].iloc[-1] - h["val_accuracy"].iloc[-1]
    if gap > 0.1:
        st.warning(
            _(
                "Training accuracy is {gap} above validation accuracy in the last epoch: the model is overfitting."
            ).format(gap=f"{gap:.0%}")
        )


@st.fragment  # its classes, metric and epoch controls change only this view
def per_class_ui(run: StoredRun) -> None:
    h, names = run.history, list(run.class_names)
    if h.empty:
        return
    c1, c2 = st.columns([3, 1])
    chosen = c1.multiselect(
        _("Classes shown"),  # not "Classes": the Dataset page's count of classes is another word in Korean
        range(len(names)),
        default=list(range(min(len(names), charts.MAX_LINES))),
        format_func=lambda i: names[i],
        key="per_class_classes",
        max_selections=charts.MAX_LINES,
        help=_("At most {n} lines at once, so each keeps a distinct colour.").format(n=charts.MAX_LINES),
    )
    metric = c2.radio(
        _("Metric"),
        list(METRIC_LABELS),
        format_func=lambda code: _(METRIC_LABELS[code]),
        key="per_class_metric",
        horizontal=True,
    )
    has_batch = f"val_batch_{metric}_0" in h
    if chosen:
        cache.altair_chart(
            st,
            charts.per_class_chart,
            h,
            names,
            chosen,
            metric,
            chart_kwargs={"batch_averaged": has_batch},
            cache_key=(cache.run_key(run), tuple(chosen), metric, has_batch),
            width="stretch",
        )
    st.caption(
        _(
            "Solid lines are exact: each epoch's whole validation split is predicted and every number comes from "
            "that epoch's confusion matrix. Dashed lines are the same predictions averaged over batches, which is "
            "what a per-class metric function passed to `model.compile(metrics=...)` reports (the "
            "per-class-metrics tutorial's method)."
        )
        if has_batch
        else _(
            "Solid lines are exact: each epoch's whole validation split is predicted and every number comes from "
            "that epoch's confusion matrix."
        )
    )
    gap = metrics.largest_batch_gap(h, len(names), metric) if has_batch and metric != "f1" else None
    if gap is not None:
        c, epoch, exact, batch = gap
        st.info(" ".join(metrics.batch_gap_sentences(md(names[c]), metric, epoch, exact, batch)))
        present.code(  # folded while presenting, as every code block of the app
            "# the fix: predict the whole validation split once per epoch and count\n"
            "y_pred = model.predict(x_val).argmax(axis=1)\n"
            f"{metric} = sklearn.metrics.{metric}_score(y_val, y_pred, average=None, zero_division=0)",
            label=_("Show the fix"),
        )
    if len(run.val_confusions):
        epoch = (
            st.slider(
                _("Validation confusion matrix at epoch"),
                1,
                len(run.val_confusions),
                len(run.val_confusions),
                key="val_cm_epoch",
            )
            if len(run.val_confusions) > 1
            else 1
        )
        table = metrics.confusion_table(run.val_confusions[epoch - 1], names, "true")
        title = _("Validation, epoch {epoch}, normalized by true class").format(epoch=epoch)
        cache.altair_chart(st, charts.confusion_heatmap, table, "true", title, cache_key=(cache.run_key(run), epoch))


def test_evaluation_ui(
    run: StoredRun, ds: Dataset, model_bytes: Callable[[], bytes] | None, model_note: str = ""
) -> None:
    """model_note: what the downloaded model.keras takes and gives (lib.runs.whole.download_sentence)."""
    names = list(run.class_names)
    y_true, y_prob = run.y_true, run.y_prob
    cm = run.test_confusion
    summary = metrics.summary(cm, majority_class(run, ds))
    cols = st.columns(4)
    for col, (name, value) in zip(cols, summary.items(), strict=False):
        col.metric(header(name), f"{value:.1%}")
    if summary["accuracy"] - summary["balanced accuracy"] > 0.05:
        st.warning(_("Accuracy is well above balanced accuracy: the large classes carry it. Read recall per class."))

    # Matrix and report each get the full width on a projector: side by side they cut each other.
    confusion_view_ui(cm, names)
    rep = metrics.report(cm, names)
    present.dataframe(
        rep.rename(index=lambda row: _(REPORT_ROWS[row]) if row in REPORT_ROWS and row not in names else row),
        fmt={"precision": "{:.3f}", "recall": "{:.3f}", "f1-score": "{:.3f}"},
        width="stretch",
        height=table_height(len(rep)),  # every row (accuracy, macro, weighted too), no scrolling inside
        # The row names ("weighted avg") are longer than the class rows the grid sizes the column by.
        column_config={"_index": st.column_config.Column(width="medium")},
    )
    d1, d2, d3, _spare = st.columns([1, 1, 1, 1])
    d1.download_button(_("Report CSV"), rep.to_csv().encode(), f"report_{run.run_id}.csv", "text/csv", key="dl_report")
    cm_csv = pd.DataFrame(cm, index=names, columns=names).to_csv().encode()
    d2.download_button(_("Confusion CSV"), cm_csv, f"confusion_{run.run_id}.csv", "text/csv", key="dl_cm")
    if model_bytes is not None:
        d3.download_button(_("Model .keras"), model_bytes, f"model_{run.run_id}.keras", key="dl_model")
        if model_note:
            st.caption(md(model_note))

    cell_gallery_ui(run, ds)

    # One under the other: in a third of the page (178 px at 1024x768 with the sidebar open) the
    # table's four columns (263 px) were cut, and the room's table does not fit it either.
    c1, c2 = st.container(), st.container()
    c1.markdown(_("**Top confusions**"))
    present.dataframe(
        metrics.top_confusions(cm, names),
        c1,
        fmt={"share of true class": "{:.1%}"},
        headers={"share of true class": _("share of true")},
        hide_index=True,
    )
    c2.markdown(_("**Most confident mistakes**"))
    with c2:
        _gallery(ds, metrics.confident_mistakes(y_true, y_prob, 12), y_prob, names, show_true=True)


# A control that changes one view reruns only that view (st.fragment), not the whole page.
@st.fragment
def confusion_view_ui(cm: np.ndarray, names: list[str]) -> None:
    """The test confusion matrix with its normalization choice."""
    # The options are the English labels (a stable code: tests and links pick them), shown translated.
    how_label = st.radio(
        _("Confusion matrix"),
        list(metrics.NORMALIZATIONS.values()),
        format_func=_,
        horizontal=True,
        key="cm_normalize",
    )
    how = next(k_ for k_, v in metrics.NORMALIZATIONS.items() if v == how_label)
    table = metrics.confusion_table(cm, names, how)
    title = _("Test set ({n} images), {how}").format(n=int(cm.sum()), how=_(how_label))
    cache.altair_chart(st, charts.confusion_heatmap, table, how, title)


@st.fragment
def cell_gallery_ui(run: StoredRun, ds: Dataset) -> None:
    """The images behind one cell of the confusion matrix, most confident first."""
    names, cm = list(run.class_names), run.test_confusion
    k = len(names)
    st.markdown(_("**Look behind a number: choose a cell**"))
    c1, c2 = st.columns(2)
    off = cm.copy()
    np.fill_diagonal(off, -1)
    top_t, top_p = divmod(int(off.argmax()), k)  # start on the largest confusion
    t = c1.selectbox(_("True class"), range(k), index=top_t, format_func=lambda i: names[i], key="cell_true")
    p = c2.selectbox(_("Predicted class"), range(k), index=top_p, format_func=lambda i: names[i], key="cell_pred")
    idx = metrics.cell_examples(run.y_true, run.y_prob, t, p)
    st.caption(
        _("{n} test image(s) of '{true}' predicted as '{predicted}', most confident first").format(
            n=len(idx), true=md(names[t]), predicted=md(names[p])
        )
    )
    _gallery(ds, idx[:24], run.y_prob, names)


def _gallery(ds: Dataset, idx: np.ndarray, y_prob: np.ndarray, names: list[str], show_true: bool = False) -> None:
    if len(idx) == 0:
        st.caption(_("No images here."))
        return
    if len(ds.x_test) != len(y_prob):
        st.caption(_("The current dataset's test split differs from this run's: images cannot be shown."))
        return
    captions = []
    for i in idx:
        pred = int(y_prob[i].argmax())
        share = f"{y_prob[i, pred]:.0%}"
        text = (
            _("true {true} → {predicted} {share}").format(true=names[ds.y_test[i]], predicted=names[pred], share=share)
            if show_true
            else f"{names[pred]} {share}"
        )
        captions.append(md(text))
    st.image([for_display(ds.x_test[i]) for i in idx], caption=captions, width=88)


@st.fragment  # its buttons run a trap on the model: only this view changes
def traps_ui(run: StoredRun, ds: Dataset, model: Callable[[], Any], gen: Callable[[], Any]) -> None:
    names = list(run.class_names)
    st.markdown(_("#### 1 · A shuffling generator scrambles the order of predictions"))
    st.caption(
        _(
            "`model.predict(datagen.flow(x_test, shuffle=True))` returns predictions in a shuffled order; "
            "comparing them with `y_test` in dataset order measures nothing."
        )
    )
    if st.button(_("Run it on this model"), key="trap_order"):
        result = traps.generator_order(model(), gen(), ds.x_test, ds.y_test, seed=run.settings.seed)
        present.dataframe(pd.DataFrame({"accuracy": _shown_keys(result)}), fmt="{:.1%}")
        st.code(traps.ORDER_FIX_CODE, language="python")
        st.caption(
            _(
                "Not fixes: `it.reset()` before predicting only rewinds the iterator; the order stays shuffled. "
                "Realigning afterwards with `classes[it.index_array]` (here `y_test[it.index_array]`) fails in "
                "Keras 3: `predict` calls the iterator's `on_epoch_end()` after its pass, which shuffles "
                "`index_array` again, so it no longer describes the predictions. The table shows both."
            )
        )

    st.markdown(_("#### 2 · One-hot labels where scikit-learn wants integers"))
    message, fixed = cache.computed(traps.one_hot_error, run.y_true, run.y_prob, cache_key=cache.run_key(run))
    st.code(f"confusion_matrix(y_test_one_hot, (y_prob > 0.5).astype(int))\n# ValueError: {message}", language="python")
    st.code(
        f"confusion_matrix(y_test_one_hot.argmax(axis=1), y_prob.argmax(axis=1))  # works: accuracy {fixed:.1%}",
        language="python",
    )

    st.markdown(_("#### 3 · Accuracy under imbalance"))
    majority = majority_class(run, ds)
    numbers = traps.imbalance(run.y_true, run.y_prob, majority)
    present.dataframe(pd.DataFrame({"value": {header(k): v for k, v in numbers.items()}}), fmt="{:.1%}")
    st.caption(
        _(
            "Majority-class baseline: always predicting '{name}'. Balanced accuracy and macro F1 weigh every class "
            "equally; accuracy weighs every image. Create imbalance on the Dataset page and train again to watch "
            "them drift apart."
        ).format(name=md(names[majority]))
        if majority is not None
        else _(
            "Majority-class baseline: not recorded for this run. Balanced accuracy and macro F1 weigh every class "
            "equally; accuracy weighs every image. Create imbalance on the Dataset page and train again to watch "
            "them drift apart."
        )
    )

    st.markdown(_("#### 4 · Test images without the training's preprocessing"))
    config, _extra = augment.training_config(run.settings.augment)
    steps = [k for k in augment.NORMALIZATION if augment.non_defaults(config).get(k)]
    tutorial = traps.TUTORIAL_UNSTANDARDIZED
    st.caption(
        _(
            "The augmentation tutorial trained with samplewise centring and evaluated raw test images: its test "
            "loss was {loss} and accuracy {accuracy}. Its mistake: evaluation images never got "
            "`datagen.standardize`. This run's deterministic step: {steps}."
        ).format(
            loss=tutorial["loss"],
            accuracy=tutorial["accuracy"],
            steps=", ".join(f"`{s}`" for s in steps) if steps else _("none"),
        )
    )
    if steps and st.button(_("Evaluate this model both ways"), key="trap_standardize"):
        result = traps.unstandardized(model(), gen(), ds.x_test, ds.y_test)
        table = pd.DataFrame(_shown_keys(result)).T
        present.dataframe(table, fmt={"accuracy": "{:.1%}", "loss": "{:.3f}"})
        st.caption(traps.unstandardized_sentence(result))
        st.code(
            "x_test_ready = np.stack([datagen.standardize(img.astype('float32')) for img in x_test])  # the fix\n"
            "model.evaluate(x_test_ready, y_test)",
            language="python",
        )


def _shown_keys(result: dict) -> dict:
    """A trap's result with its row names (lib.evaluate.traps' N_ texts) in the reader's language."""
    return {_(k): v for k, v in result.items()}


def evaluation_code(run: StoredRun) -> str:
    """The scikit-learn code that reproduces the evaluation, reading this run's own file (its real
    path: the store may be $EXPLORER_RUNS, not runs/)."""
    where = str(run.path / "test_predictions.npz") if run.path is not None else "test_predictions.npz"
    return (
        "import numpy as np\n"
        "from sklearn.metrics import classification_report, confusion_matrix, balanced_accuracy_score\n\n"
        f"with np.load({where!r}) as p:\n"
        "    y_true, y_prob, class_names = p['y_true'], p['y_prob'], list(p['class_names'])\n"
        "y_pred = y_prob.argmax(axis=1)  # probabilities -> integer labels\n"
        "labels = range(len(class_names))  # every class, even one missing from y_pred\n"
        "print(confusion_matrix(y_true, y_pred, labels=labels))  # rows true, columns predicted\n"
        "print(confusion_matrix(y_true, y_pred, labels=labels, normalize='true'))  # recall per row\n"
        "print(classification_report(y_true, y_pred, labels=labels, target_names=class_names, zero_division=0))\n"
        "print('balanced accuracy', balanced_accuracy_score(y_true, y_pred))\n"
    )


def code_ui(run: StoredRun) -> None:
    present.code(evaluation_code(run))


def file_reader(path: Any) -> Callable[[], bytes]:
    """For st.download_button: the file is read when the user clicks, not on every rerun."""

    def read() -> bytes:
        with open(path, "rb") as fh:
            return fh.read()

    return read
