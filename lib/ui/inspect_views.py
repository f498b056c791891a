"""Views of Look inside: try an image, where the model looks, curves per class, the map of
its features, the HTML report. Computation lives in lib.evaluate and lib.runs.report_html;
these functions draw widgets and results only."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import streamlit as st

from lib import charts, i18n
from lib.data.dataset import Dataset
from lib.errors import ExplorerError, one_line
from lib.evaluate import curves, explain, metrics, try_image
from lib.evaluate.input_check import unlike_training
from lib.i18n import N_, _, shown
from lib.runs.store import StoredRun
from lib.ui import cache, inspect_cache, present, state
from lib.ui.images import for_display

SOURCES = ("a test image", "upload an image", "take a photo")  # codes (the widget's values); shown through:
SOURCE_LABELS = {
    "a test image": N_("a test image"),
    "upload an image": N_("upload an image"),
    "take a photo": N_("take a photo"),
}
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~$])")


def md(text: object) -> str:
    """User text (file and class names) made inert for Streamlit's Markdown: a name like
    `![x](http://...)` would otherwise make every viewer's browser fetch that image."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def display(img: np.ndarray) -> np.ndarray:
    """Any step's array as a viewable uint8 image: float steps stretched from their min..max."""
    a = np.asarray(img)
    if a.dtype != np.uint8:
        lo, hi = float(a.min()), float(a.max())
        a = ((a - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(a)).round().astype(np.uint8)
    if a.ndim == 3 and a.shape[-1] not in (1, 3):
        a = a[..., :3]
    return for_display(a, 96)


def steps_ui(steps: list[try_image.Step]) -> None:
    cols = st.columns(max(4, min(len(steps), 6)))  # at least 4: two steps should not fill the width
    for i, step in enumerate(steps):
        col = cols[i % len(cols)]
        col.image(display(step.image), width=110)
        col.caption(
            f"**{i + 1}. {md(shown(step.name))}**  \n{'x'.join(str(d) for d in step.shape)} · {step.image.dtype}  \n"
            + _("min {low} · max {high}").format(low=f"{step.low:.4g}", high=f"{step.high:.4g}")
        )
        if step.note:
            col.caption(md(shown(step.note)))
    if any(s.image.dtype != np.uint8 for s in steps):
        st.caption(_("Float steps are shown stretched from their own min to max; the numbers are the real values."))


def try_source_ui(ds: Dataset, run: StoredRun) -> tuple[Any, int | None, str, int | None] | None:
    """(image source: uint8 array or bytes, its true class when known, a label, the test index) or None."""
    c1, c2 = st.columns(2)
    source = c1.radio(_("Image"), SOURCES, horizontal=True, key="try_source", format_func=lambda s: _(SOURCE_LABELS[s]))
    if source == SOURCES[0]:
        if len(ds.x_test) == 0:
            st.info(_("This dataset has no test images."))
            return None
        index = int(c2.number_input(_("Test image index"), 0, len(ds.x_test) - 1, 0, key="try_index"))
        return ds.x_test[index], int(ds.y_test[index]), _("test image #{index}").format(index=index), index
    if source == SOURCES[1]:
        upload = st.file_uploader(
            _("An image file"), type=["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"], key="try_upload"
        )
        return (upload.getvalue(), None, upload.name, None) if upload is not None else None
    photo = st.camera_input(_("Take a photo"), key="try_camera")
    return (photo.getvalue(), None, _("camera photo"), None) if photo is not None else None


def try_ui(run: StoredRun, ds: Dataset, model: Any, preprocess: Callable) -> dict | None:
    """Try it: the steps and the probabilities. Returns what Where it looks needs, or None."""
    picked = try_source_ui(ds, run)
    if picked is None:
        st.caption(_("Choose a test image, upload one or take a photo."))
        return None
    source, true_class, label, index = picked
    try:
        steps = try_image.prepare(source, ds, run, model=model, preprocess=preprocess)
    except ExplorerError as exc:
        st.error(f"{md(label)}: {md(exc)}")
        return None
    steps_box, result_box = (st.container(), st.container())[:: -1 if present.presenting() else 1]
    with steps_box:  # presenting: the probabilities (the main figure) first, then the steps
        st.markdown(_("**Every step the model's input goes through**"))
        steps_ui(steps)
    image = next(s.image for s in reversed(steps) if s.image.dtype == np.uint8)
    if index is None:  # a picture from outside the data set: say when it clearly differs from training
        for sentence in unlike_training(image, ds.x_train):
            st.warning(sentence)
    prob = cache.computed(
        try_image.predict_image, model, preprocess, image, cache_key=(cache.run_key(run), _digest(image))
    )
    names = list(run.class_names)
    c1, c2 = result_box.columns([3, 2])
    table = try_image.probabilities_table(prob, names)
    title = _("Class probabilities: {label}").format(label=label)
    cache.altair_chart(c1, charts.probability_bars, table, title, width="stretch")
    best = int(prob.argmax())
    c2.metric(_("Predicted"), f"{names[best]} · {prob[best]:.1%}")
    if true_class is not None:
        c2.caption(_("True class: {name}").format(name=md(names[true_class])))
    if index is not None and len(run.y_prob) == len(ds.x_test):
        diff = float(np.abs(prob - run.y_prob[index]).max())
        same = (
            _("Same as the stored test prediction (largest difference {diff}).")
            if diff < 1e-4
            else _("DIFFERENT from the stored test prediction (largest difference {diff}).")
        )
        c2.caption(same.format(diff=f"{diff:.1e}"))
    return {"steps": steps, "image": image, "true": true_class, "label": label}


def run_key(name: str, run_id: str) -> str:
    """A widget key of one run: a choice built from a run's layers or mistakes belongs to that run,
    and a switch of run must rebuild it (one key for all runs kept the last run's labels on screen)."""
    return f"{name}:{run_id}"


def _digest(a: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(a).data, digest_size=12).hexdigest() + str(a.shape) + str(a.dtype)


def layer_ui(model: Any, run: StoredRun) -> tuple[explain.ConvLayer | None, str]:
    """(the conv layer to explain, the CAM method), or (None, "") for a model without convolutions."""
    layers = explain.conv_layers(model)
    if not layers:
        st.caption(
            _(
                "This model has no convolutional layer (an MLP): it is explained with **gradient × input** "
                "saliency: how much each pixel, times its value, moves the class score."
            )
        )
        return None, ""
    c1, c2 = st.columns([3, 2])
    chosen = c1.selectbox(
        _("Convolutional layer"),
        range(len(layers)),
        index=len(layers) - 1,
        format_func=lambda i: (
            _("{layer} · last, chosen automatically").format(layer=layers[i].label)
            if i == len(layers) - 1
            else layers[i].label
        ),
        key=run_key("cam_layer", run.run_id),
        help=_("Later layers see larger parts of the image but at a coarser grid."),
    )
    method = c2.radio(
        _("Method"),
        list(explain.CAM_METHODS),
        format_func=explain.CAM_METHODS.get,
        horizontal=True,
        key="cam_method",
        help=_(
            "HiResCAM weighs each position by its own gradient (faithful for heads that flatten, like our cnn); "
            "classic Grad-CAM averages the gradient over the map first. With a pooling head both are the same."
        ),
    )
    return layers[min(chosen, len(layers) - 1)], method


def explanation_row(
    model: Any,
    image: np.ndarray,
    x: np.ndarray,
    picked: tuple,
    names: list[str],
    true: int | None,
    run_key: tuple,
    *,
    grid_key: str,
) -> None:
    """The image, and the heatmap overlays for the predicted class and the true class, in the
    container keyed `grid_key`."""
    layer, method = picked

    def explained(class_index: int | None) -> explain.Explanation:  # once per run, input, class, layer and method
        key = (run_key, _digest(x), class_index, layer.label if layer else None, method)
        return cache.computed(explain.explain, model, x, class_index, layer, method or "hirescam", cache_key=key)

    try:
        pred = explained(None)
        wanted = [("predicted", pred)]
        if true is not None and true != pred.class_index:
            wanted.append(("true", explained(true)))
    except Exception as exc:  # e.g. an uploaded model whose last layer is not Dense
        st.info(_("No explanation for this model: {reason}").format(reason=md(one_line(exc))))
        return
    # Always 5 columns, each picture as wide as its column: one size whether one or two classes are shown.
    # A fixed 140 px ran past a 1024 px page's narrow columns, one picture over the next; while presenting
    # the row never wraps (a wrapped picture grew to the whole row). The space above keeps each picture's
    # fullscreen button, which Streamlit draws above its top right corner, off the box or caption above.
    st.space("small")
    with present.image_grid(grid_key):
        cols = st.columns(5)
    cols[0].image(display(image), width="stretch", caption=_("image"))
    for j, (kind, e) in enumerate(wanted):
        over = explain.overlay(image, e.heatmap)
        shown = _("predicted: {name}") if kind == "predicted" else _("true: {name}")
        cols[1 + 2 * j].image(
            for_display(over, 140), width="stretch", caption=shown.format(name=md(names[e.class_index]))
        )
        p = f"{e.probability:.1%}"
        heat_caption = (
            _("{method} · p={p}").format(method=e.method, p=p)
            if e.heatmap.max() > 0
            else _("{method} · p={p} · no positive evidence").format(method=e.method, p=p)
        )
        cols[2 + 2 * j].image(for_display(explain.heat_image(e.heatmap), 140), width="stretch", caption=heat_caption)
    if true is not None and true == pred.class_index:
        st.caption(_("Predicted correctly: the true class's map is the predicted class's map."))
    st.caption(
        _("{method} at {layer}: brighter = more weight for that class.").format(method=pred.method, layer=pred.layer)
    )


def where_ui(run: StoredRun, ds: Dataset, model: Any, preprocess: Callable, tried: dict | None) -> None:
    names = list(run.class_names)
    picked = layer_ui(model, run)
    st.markdown(_("**The image from Try it**"))
    if tried is None:
        st.caption(_("Choose an image on the Try it tab."))
    else:
        x = try_image.model_input(tried["steps"])
        st.caption(md(tried["label"]))
        explanation_row(
            model, tried["image"], x, picked, names, tried["true"], cache.run_key(run), grid_key="where_tried"
        )
    st.markdown(_("**A most-confident mistake from the test set**"))
    if len(run.y_prob) != len(ds.x_test):
        st.caption(_("The current dataset's test split differs from this run's."))
        return
    mistakes = [
        int(m)
        for m in cache.computed(
            metrics.confident_mistakes, run.y_true, run.y_prob, 24, cache_key=(cache.run_key(run), 24)
        )
    ]
    if len(mistakes) == 0:
        st.caption(_("No mistakes on the test set."))
        return
    i = st.selectbox(
        _("Mistake"),
        mistakes,
        format_func=lambda m: _("#{index}: true {true} → {predicted} {p}").format(
            index=m, true=names[run.y_true[m]], predicted=names[run.y_prob[m].argmax()], p=f"{run.y_prob[m].max():.0%}"
        ),
        key=run_key("cam_mistake", run.run_id),
    )
    x = preprocess(ds.x_test[i : i + 1])
    explanation_row(
        model, ds.x_test[i], x, picked, names, int(run.y_true[i]), cache.run_key(run), grid_key="where_mistake"
    )


@st.fragment  # the tab's own controls rerun only the tab
def curves_ui(run: StoredRun) -> None:
    names = list(run.class_names)
    roc, aucs = cache.computed(curves.roc_curves, run.y_true, run.y_prob, names)
    pr, aps = cache.computed(curves.pr_curves, run.y_true, run.y_prob, names)
    c1, c2 = st.columns(2)
    if not roc.empty:
        cache.altair_chart(c1, charts.roc_chart, roc, aucs, width="stretch")
    if not pr.empty:
        cache.altair_chart(c2, charts.pr_chart, pr, aps, width="stretch")
    table = aucs.merge(aps[["class", "average precision", "prevalence"]], on="class")
    present.dataframe(
        table, fmt={"auc": "{:.3f}", "average precision": "{:.3f}", "prevalence": "{:.1%}"}, hide_index=True
    )
    st.caption(
        _(
            "One class against all the others, from the stored test probabilities (scikit-learn's roc_curve, auc, "
            "precision_recall_curve, average_precision_score). AP's chance level is the class's prevalence."
        )
    )
    threshold_ui(run)
    rel, ece = cache.computed(curves.reliability, run.y_true, run.y_prob)
    c1, c2 = st.columns([3, 2])
    cache.altair_chart(c1, charts.reliability_chart, rel, ece, width="stretch")
    c2.metric(_("Expected calibration error"), f"{ece:.4f}")
    c2.caption(
        _(
            "Top-label confidence (the largest probability) in 10 equal-width bins; "
            "ECE = Σ |accuracy − confidence| × images in the bin / all images. Bars below the diagonal: "
            "overconfident (right less often than it is sure); above it: underconfident (right more often)."
        )
    )
    filled = rel[rel["count"] > 0].assign(
        bin=lambda t: [f"{a:.1f}-{b:.1f}" for a, b in zip(t["low"], t["high"], strict=True)]
    )
    with st.expander(_("Bins of the reliability diagram")):
        present.dataframe(
            filled[["bin", "count", "confidence", "accuracy", "gap"]],
            fmt={"confidence": "{:.3f}", "accuracy": "{:.3f}", "gap": "{:+.3f}"},
            hide_index=True,
        )


@st.fragment
def threshold_ui(run: StoredRun) -> None:
    threshold = st.slider(
        _("Threshold: a class is predicted when its probability is at least"),
        0.0,
        1.0,
        0.5,
        0.01,
        key="curve_threshold",
    )
    table = cache.computed(curves.at_threshold, run.y_true, run.y_prob, list(run.class_names), threshold)
    # presenting: one under the other (the room's table does not fit half a page)
    c1, c2 = (st.container(), st.container()) if present.presenting() else st.columns(2)
    cache.altair_chart(c1, charts.threshold_chart, table, threshold, width="stretch")
    shown = table[["class", "precision", "recall", "predicted positive"]].rename(
        columns={"predicted positive": "predicted"}
    )
    present.dataframe(shown, c2, fmt={"precision": "{:.1%}", "recall": "{:.1%}"}, hide_index=True)
    if shown["precision"].isna().any():
        c2.caption(_("n/a: no image is predicted as that class at this threshold, so its precision is undefined."))


@st.fragment
def map_ui(run: StoredRun, ds: Dataset, root: str) -> None:
    if len(run.y_prob) != len(ds.x_test):
        st.info(_("The current dataset's test split differs from this run's: no map."))
        return
    done: dict = st.session_state.setdefault(state.TSNE_DONE, {})
    c1, c2 = st.columns([2, 3])

    def asked_for_tsne() -> None:  # before the rerun: the map shows t-SNE and the button is gone
        done[run.run_id] = True
        st.session_state["map_method"] = "t-SNE"

    if not done.get(run.run_id):
        c2.button(
            _("Compute t-SNE"),
            key="tsne_button",
            help=_("Seconds to minutes; cached for this run."),
            on_click=asked_for_tsne,
        )
    methods = ["PCA", "t-SNE"] if done.get(run.run_id) else ["PCA"]
    method = c1.radio(_("Projection"), methods, horizontal=True, key="map_method")
    shown = method if method in methods else "PCA"
    try:
        table, note = inspect_cache.projection(root, run.run_id, ds, shown)
    except Exception as exc:  # e.g. an uploaded model without a Dense head
        st.info(_("No feature map for this model: {reason}").format(reason=md(one_line(exc))))
        return
    from lib.evaluate.embedding import IMAGE_CAP, indices_in_box

    with_images = int((table["image"] != "").sum())
    event = cache.altair_chart(
        st,
        charts.embedding_chart,
        table,
        _("What the model learned: penultimate features of {n} test images").format(n=f"{len(table):,}"),
        chart_kwargs={"axes": (_("{method} axis 1").format(method=shown), _("{method} axis 2").format(method=shown))},
        width="stretch",
        on_select="rerun",
        key="embedding_chart",
    )
    tooltips = (
        _("Tooltip images for the first {shown} of {n} points only (a cap of {cap} keeps the page fast).").format(
            shown=f"{with_images:,}", n=f"{len(table):,}", cap=f"{IMAGE_CAP:,}"
        )
        if with_images < len(table)
        else _("Hover a point to see its image.")
    )
    st.caption(
        _("{note}. Colour: true class; cross: a mistake. Drag a box to see its images below. {tooltips}").format(
            note=note, tooltips=tooltips
        )
    )
    box = (event or {}).get("selection", {}).get("box")  # {"x": [lo, hi], "y": [lo, hi]} while a box is drawn
    chosen = indices_in_box(table, box)
    if len(chosen):
        names = list(run.class_names)
        shown = chosen[:48]
        st.markdown(
            _("**{n} image(s) in the box** (first 48)").format(n=len(chosen))
            if len(chosen) > 48
            else _("**{n} image(s) in the box**").format(n=len(chosen))
        )
        st.image(
            [for_display(ds.x_test[i]) for i in shown],
            caption=[f"#{i} {names[run.y_true[i]]}→{names[run.y_prob[i].argmax()]}" for i in shown],
            width=88,
        )
        wrong = table.loc[table["index"].isin(chosen), "result"].eq("wrong").mean()
        st.caption(_("{share} of them are mistakes.").format(share=f"{wrong:.0%}"))


@st.fragment
def report_ui(run: StoredRun, ds: Dataset, root: str) -> None:
    st.markdown(
        _(
            "One HTML file for this run: data set, settings, notes, confusion matrix, classification report, "
            "training and per-class curves (static SVG), the most confident mistakes. It opens offline."
        )
    )
    reports: dict = st.session_state.setdefault(state.REPORTS, {})
    built = (run.run_id, i18n.language())  # a language switch asks for the report in the new language
    if st.button(_("Build the HTML report"), key="report_build"):
        reports[built] = inspect_cache.report(root, run.run_id, ds)
    if built in reports:
        st.download_button(
            _("Download report (.html)"),
            reports[built].encode("utf-8"),
            f"report_{run.run_id}.html",
            "text/html",
            key="report_download",
        )
        st.caption(_("{size} kB, self-contained.").format(size=f"{len(reports[built]) / 1024:.0f}"))
