"""Altair chart builders: DataFrame in, alt.Chart out (pure, tested through to_dict())."""

from __future__ import annotations

import json
import textwrap
import unicodedata

import altair as alt
import pandas as pd

from lib.i18n import N_, _

# Readable on a washed-out projector: a categorical palette whose 10 colours stay distinct,
# and every distinction carried by something besides colour too (dash, shape, a label).
CATEGORICAL = "tableau10"
MAX_LINES = 10  # per-class lines beyond this: the page offers a class selector instead
SPLIT_DASH = {"train": [1, 0], "validation": [6, 3]}  # solid vs dashed
DASHES = [[1, 0], [5, 3]]  # per-class lines: exact solid, batch-averaged dashed
DASH_SYMBOL_SIZE = 900  # a 30 px stroke in the dash legend: two whole dashes
PER_CLASS_PLOT_HEIGHT = 260  # px of plot, readable on a projector
SPLIT_SHAPE = {"train": "circle", "validation": "square"}
SPLIT_COLOUR = ("#1f77b4", "#d62728")  # train, validation
LEGEND = {"orient": "bottom", "columns": 5, "labelLimit": 0, "titleLimit": 0, "symbolLimit": 0}
# Every class label on an axis, never dropped or cut ("labelOverlap" would hide some).
AXIS_LABELS = {"labelOverlap": False, "labelLimit": 160}
# A title line that fits a half-width chart at 1024 px with the sidebar open (16 px bold)
HALF_TITLE_CHARS = 30
# Confusion-matrix cells print their number only while the matrix is small enough to read.
MAX_LABELLED_CELLS = 12


# Data values (tests read them in the spec); a legend shows them translated (`_shown_labels`).
EXACT = N_("exact (whole validation split)")
BATCH_AVERAGED = N_("batch-averaged (as a Keras metric function)")
SPLIT_NAMES = (N_("train"), N_("validation"), N_("test"))
METRIC_NAMES = {"loss": N_("loss"), "accuracy": N_("accuracy"), "val_accuracy": N_("val_accuracy")}
PER_CLASS_TITLES = {"precision": N_("precision per class"), "recall": N_("recall per class"), "f1": N_("f1 per class")}
RESULT_NAMES = (N_("right"), N_("wrong"))  # the map of what it learned: each test image's prediction
RATE_NAMES = (N_("precision"), N_("recall"))
# Every data value a legend may show translated (tests accept a translated entry drawn by its English value).
LEGEND_VALUES = (*SPLIT_NAMES, EXACT, BATCH_AVERAGED, *METRIC_NAMES.values(), *RESULT_NAMES, *RATE_NAMES)
CURVES_TITLES = {"loss": N_("loss: train vs validation"), "accuracy": N_("accuracy: train vs validation")}


def _legend(**overrides) -> alt.Legend:
    return alt.Legend(**{**LEGEND, **overrides})


# The texts _title is given, marked for the catalogue (it is called with variables).
_FIELD_TITLES = (N_("epoch"), N_("class"), N_("metric"), N_("probability"), N_("result"))


def _epoch_axis(epochs) -> alt.Axis:
    """Whole epochs, never "1.000000" nor "1 2 2 3 3": up to 20 epochs each one is a tick (Vega's
    tickMinStep alone still put ticks at halves in some renderers, formatted as repeated numbers)."""
    seen = sorted({int(e) for e in epochs})
    values = seen if 0 < len(seen) <= 20 else alt.Undefined
    return alt.Axis(tickMinStep=1, format="d", values=values)


def _title(text: str, field: str | None = None):
    """An axis or legend title in the reader's language. Where the title is the field's own name
    (Vega-Lite's default), the English spec keeps it unset, as it was."""
    shown = _(text)
    return alt.Undefined if field is not None and shown == field else shown


def _legend_or_default(values):
    """A legend with translated labels, or Vega-Lite's own (unset) where nothing is translated."""
    labels = _shown_labels(values)
    return alt.Legend(**labels) if labels else alt.Undefined


def _shown_labels(values) -> dict:
    """`labelExpr` for an axis or legend whose labels are data values (train, validation): the
    reader's words, while the data keep the English values tests and tooltips read. Empty in English."""
    pairs = [(v, _(v)) for v in values if _(v) != v]
    if not pairs:
        return {}
    expr = " : ".join(
        f"datum.label == {json.dumps(v, ensure_ascii=False)} ? {json.dumps(t, ensure_ascii=False)}" for v, t in pairs
    )
    return {"labelExpr": f"{expr} : datum.label"}


def class_balance_chart(counts: pd.DataFrame) -> alt.Chart:
    """Bars of images per class, train and test side by side.

    `counts` is lib.stats.class_counts(): columns class, name, train, test.
    """
    long = counts.melt(id_vars=["class", "name"], value_vars=["train", "test"], var_name="split", value_name="images")
    total = long.groupby("split")["images"].transform("sum")
    long["share"] = (long["images"] / total.where(total > 0, 1)).round(4)
    order = list(counts["name"])
    return (
        alt.Chart(long, title=_("Images per class"))
        .mark_bar()
        .encode(
            x=alt.X("name:N", sort=order, title=_("class"), axis=alt.Axis(**AXIS_LABELS)),
            xOffset=alt.XOffset("split:N", sort=["train", "test"]),
            y=alt.Y("images:Q", title=_("images")),
            color=alt.Color(
                "split:N", sort=["train", "test"], title=_("split"), legend=_legend(**_shown_labels(SPLIT_NAMES))
            ),
            # not colour alone: the test bars are hatched-light (lower opacity)
            opacity=alt.Opacity("split:N", sort=["train", "test"], scale=alt.Scale(range=[1.0, 0.55]), legend=None),
            tooltip=[
                alt.Tooltip("name:N", title=_("class")),
                alt.Tooltip("split:N", title=_title("split", "split")),
                alt.Tooltip("images:Q", title=_title("images", "images")),
                alt.Tooltip("share:Q", format=".1%", title=_("share of split")),
            ],
        )
    )


def distribution_chart(table: pd.DataFrame, title: str | None = None) -> alt.Chart:
    """One histogram panel per image set (lib.augment.preview.distribution_table), each with its
    own value axis: raw 0..255 pixels and standardized values near 0 are both readable."""
    title = title if title is not None else _("Pixel values the model sees")
    order = list(dict.fromkeys(table["images"]))
    return (
        alt.Chart(table)
        .mark_bar(binSpacing=0)
        .encode(
            x=alt.X("value_start:Q", bin="binned", title=_("value")),
            x2="value_end:Q",
            y=alt.Y("share:Q", stack=None, title=_("share"), axis=alt.Axis(format="%")),
            color=alt.Color("images:N", sort=order, scale=alt.Scale(scheme=CATEGORICAL), legend=None),
            tooltip=[
                "images:N",
                alt.Tooltip("value_start:Q", format=".3g", title=_("from")),
                alt.Tooltip("value_end:Q", format=".3g", title=_("to")),
                alt.Tooltip("share:Q", format=".1%"),
            ],
        )
        .properties(height=110)
        .facet(
            row=alt.Row(
                "images:N",
                sort=order,
                title=None,
                header=alt.Header(labelAngle=0, labelAlign="left", labelOrient="top", labelLimit=0),
            ),
            title=title,
        )
        .resolve_scale(x="independent", y="independent")
    )


def curves_chart(history: pd.DataFrame, metric: str) -> alt.LayerChart:
    """Train vs validation `metric` ("loss" or "accuracy") per epoch: overfitting shows as a gap.
    Train is solid with round points, validation dashed with squares: not colour alone."""
    long = pd.DataFrame(
        {
            "epoch": list(history["epoch"]) * 2,
            "split": ["train"] * len(history) + ["validation"] * len(history),
            metric: list(history[metric]) + list(history[f"val_{metric}"]),
        }
    )
    # No sort and no explicit domain on colour and shape: either stops Vega-Lite merging their two
    # legends into one (train sorts before validation by itself).
    colour = alt.Scale(range=list(SPLIT_COLOUR))
    base = alt.Chart(long).encode(
        x=alt.X("epoch:Q", title=_title("epoch", "epoch"), axis=_epoch_axis(long["epoch"])),
        y=alt.Y(f"{metric}:Q", title=_title(METRIC_NAMES.get(metric, metric), metric), scale=alt.Scale(zero=False)),
        tooltip=["epoch:Q", "split:N", alt.Tooltip(f"{metric}:Q", format=".4f")],
    )
    # Colour and dash of the lines by a condition, not a scale: a second colour legend (line symbols)
    # would not merge, and a dash scale with legend=None removed the whole merged legend in the
    # browser's Vega-Lite (6.5; vl-convert's 6.4 still drew it).
    lines = base.mark_line(strokeWidth=3).encode(
        color=alt.condition(alt.datum.split == "validation", alt.value(SPLIT_COLOUR[1]), alt.value(SPLIT_COLOUR[0])),
        detail="split:N",
        strokeDash=alt.condition(
            alt.datum.split == "validation", alt.value(SPLIT_DASH["validation"]), alt.value(SPLIT_DASH["train"])
        ),
    )
    # The legend comes from the points, colour and shape merged into one: its symbols are the drawn
    # ones, a red square for validation (a circle for both once misled the report's readers). On top:
    # read before the curves, and never below the chart's frame.
    legend = _legend(orient="top", title=None, **_shown_labels(SPLIT_NAMES))
    points = base.mark_point(size=60, filled=True, opacity=1).encode(
        color=alt.Color("split:N", scale=colour, legend=legend),
        shape=alt.Shape("split:N", scale=alt.Scale(range=list(SPLIT_SHAPE.values())), legend=legend),
    )
    title = _(CURVES_TITLES[metric]) if metric in CURVES_TITLES else f"{metric}: train vs validation"
    return alt.layer(lines, points, title=title).properties(height=320)


def per_class_chart(
    history: pd.DataFrame, class_names: list[str], classes: list[int], metric: str, *, batch_averaged: bool = False
) -> alt.LayerChart:
    """Exact validation `metric` (precision, recall or f1) per class over epochs, at most
    MAX_LINES classes. Each line is labelled with its class at its last point (not colour
    alone). With `batch_averaged`, the same validation predictions averaged over batches (the
    way a Keras metric function reports them) are drawn dashed beside the exact values."""
    classes = list(classes)[:MAX_LINES]
    rows = []
    for i in classes:
        for epoch, value in zip(history["epoch"], history[f"val_{metric}_{i}"], strict=False):
            rows.append({"epoch": epoch, "class": class_names[i], metric: value, "how": EXACT})
        column = f"val_batch_{metric}_{i}"  # the column the training history records (lib.train.callbacks)
        if batch_averaged and column in history:
            for epoch, value in zip(history["epoch"], history[column], strict=False):
                rows.append({"epoch": epoch, "class": class_names[i], metric: value, "how": BATCH_AVERAGED})
    data = pd.DataFrame(rows, columns=["epoch", "class", metric, "how"])
    order = [class_names[i] for i in classes]
    # The dash legend names only what is drawn: no "batch-averaged" entry without its dashed rows.
    hows = [h for h in (EXACT, BATCH_AVERAGED) if (data["how"] == h).any()] or [EXACT]
    title = _(PER_CLASS_TITLES[metric]) if metric in PER_CLASS_TITLES else f"{metric} per class"
    base = alt.Chart(data, title=title).encode(
        # whole epochs, never "1.000000"
        x=alt.X("epoch:Q", title=_title("epoch", "epoch"), axis=_epoch_axis(data["epoch"])),
        y=alt.Y(f"{metric}:Q", title=_title(metric, metric), scale=alt.Scale(domain=[0, 1])),
        color=alt.Color(
            "class:N", sort=order, title=_title("class", "class"), scale=alt.Scale(scheme=CATEGORICAL), legend=_legend()
        ),
    )
    tooltip = ["epoch:Q", "class:N", "how:N", alt.Tooltip(f"{metric}:Q", format=".3f")]
    # The lines carry the dash legend; their points are a layer of their own. A line mark with
    # point=True gave its legend the points' symbols (black fill, transparent stroke): the legend's
    # strokes were drawn invisible, two entries without a mark.
    lines = base.mark_line(strokeWidth=2.5).encode(
        strokeDash=alt.StrokeDash(
            "how:N",
            sort=hows,
            scale=alt.Scale(domain=hows, range=DASHES[: len(hows)]),
            # its own row (two bottom legends overflow at 16 px), drawn as solid and dashed strokes
            # long enough to show the dash (a stroke symbol is sqrt(symbolSize) px long)
            legend=_legend(
                title=None,
                columns=1,
                orient="top",
                symbolType="stroke",
                symbolSize=DASH_SYMBOL_SIZE,
                symbolStrokeWidth=2.5,
                symbolStrokeColor="#444",
                **_shown_labels(hows),
            ),
        ),
        detail="how:N",
        tooltip=tooltip,
    )
    points = base.mark_point(filled=True, size=40, opacity=1).encode(detail="how:N", tooltip=tooltip)
    last = data[data["how"] == hows[0]].sort_values("epoch").groupby("class", as_index=False).last()
    labels = (
        alt.Chart(last)
        .mark_text(align="left", dx=6, fontSize=12, fontWeight="bold")
        .encode(
            x="epoch:Q",
            y=f"{metric}:Q",
            text="class:N",
            color=alt.Color("class:N", sort=order, scale=alt.Scale(scheme=CATEGORICAL), legend=None),
        )
    )
    # The height is the plot's own (fit-x): legends, title and axis are added around it, so a
    # projector's 16 px legends do not squeeze the plot (at 1024x768 it was ~90 px of 420).
    return alt.layer(lines, points, labels).properties(
        height=PER_CLASS_PLOT_HEIGHT, autosize=alt.AutoSizeParams(type="fit-x", contains="padding")
    )


def confusion_heatmap(table: pd.DataFrame, how: str | None, title: str | None = None) -> alt.LayerChart:
    """Heatmap of lib.evaluate.metrics.confusion_table: colour and printed numbers are the same
    `value` column (counts, or the chosen normalization), never one of each. Every class label
    is on both axes; beyond MAX_LABELLED_CELLS classes the numbers are left to the tooltip and
    the colour scale (they would overlap)."""
    title = title if title is not None else _("Confusion matrix")
    order = list(dict.fromkeys(table["true"]))
    max_value = float(table["value"].max()) or 1.0
    step = 34 if len(order) <= MAX_LABELLED_CELLS else 18
    base = alt.Chart(table, title=title).encode(
        x=alt.X("predicted:N", sort=order, title=_("predicted class"), axis=alt.Axis(labelAngle=-45, **AXIS_LABELS)),
        y=alt.Y("true:N", sort=order, title=_("true class"), axis=alt.Axis(**AXIS_LABELS)),
    )
    tooltip = [
        alt.Tooltip("true:N", title=_title("true", "true")) if _("true") != "true" else "true:N",
        alt.Tooltip("predicted:N", title=_("predicted")) if _("predicted") != "predicted" else "predicted:N",
        alt.Tooltip("count:Q", title=_("images")),
        alt.Tooltip("share_of_true:Q", format=".1%", title=_("share of true class (recall row)")),
        alt.Tooltip("share_of_pred:Q", format=".1%", title=_("share of predicted class (precision column)")),
    ]
    cells = base.mark_rect().encode(
        color=alt.Color(
            "value:Q",
            scale=alt.Scale(scheme="blues", domain=[0, max_value]),
            title=_("images") if how is None else _("share"),
            # a share is drawn as the cells print it: in percent
            legend=alt.Legend(orient="right", gradientLength=120, **({} if how is None else {"format": ".0%"})),
        ),
        tooltip=tooltip,
    )
    if len(order) > MAX_LABELLED_CELLS:
        return alt.layer(cells).properties(height=alt.Step(step), width=alt.Step(step))
    text = base.mark_text(fontSize=12).encode(
        text="label:N",
        color=alt.condition(alt.datum.value > max_value / 2, alt.value("white"), alt.value("black")),
        tooltip=tooltip,
    )
    return (cells + text).properties(height=alt.Step(step), width=alt.Step(step))


def difference_heatmap(diff, class_names, title: str | None = None) -> alt.LayerChart:
    """Diverging heatmap of a difference of two normalized confusion matrices. Cells print
    whole percentages only while they fit (up to MAX_LABELLED_CELLS classes)."""
    title = title if title is not None else _("B minus A (normalized by true class)")
    k = len(class_names)
    rows = [
        {
            "true": class_names[i],
            "predicted": class_names[j],
            "difference": float(diff[i, j]),
            "points": float(diff[i, j] * 100),  # a difference of two percentages: percentage points
            "label": f"{diff[i, j] * 100:+.0f}" if abs(diff[i, j]) >= 0.005 else "",
        }
        for i in range(k)
        for j in range(k)
    ]
    data = pd.DataFrame(rows)
    limit = max(0.01, float(abs(data["difference"]).max()))
    step = 34 if k <= MAX_LABELLED_CELLS else 18
    base = alt.Chart(data, title=title).encode(
        x=alt.X("predicted:N", sort=list(class_names), axis=alt.Axis(labelAngle=-45, **AXIS_LABELS)),
        y=alt.Y("true:N", sort=list(class_names), axis=alt.Axis(**AXIS_LABELS)),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(
            "difference:Q",
            scale=alt.Scale(scheme="redblue", domain=[-limit, limit]),
            title=_("B − A (pp)"),  # pp: percentage points (the tooltip says it in full)
            legend=alt.Legend(
                orient="right", gradientLength=120, labelExpr="format(datum.value * 100, '+.0f') + ' pp'"
            ),
        ),
        tooltip=[
            "true:N",
            "predicted:N",
            alt.Tooltip("points:Q", format="+.1f", title=_("B minus A, percentage points")),
        ],
    )
    if k > MAX_LABELLED_CELLS:
        return alt.layer(cells).properties(height=alt.Step(step), width=alt.Step(step))
    text = base.mark_text(fontSize=11).encode(text="label:N")
    return (cells + text).properties(height=alt.Step(step), width=alt.Step(step))


def f1_delta_chart(table: pd.DataFrame) -> alt.Chart:
    """Bars of per-class F1 difference B minus A (lib.compare.f1_deltas)."""
    return (
        alt.Chart(table, title=_("per-class F1: B minus A"))
        .mark_bar()
        .encode(
            x=alt.X("class:N", sort=list(table["class"]), axis=alt.Axis(labelAngle=-45, **AXIS_LABELS)),
            y=alt.Y("delta:Q", title=_("F1 difference")),
            color=alt.condition(alt.datum.delta >= 0, alt.value("#2e7d32"), alt.value("#c62828")),
            tooltip=["class:N", alt.Tooltip("delta:Q", format="+.3f")],
        )
    )


def runs_curves_chart(table: pd.DataFrame, metric: str = "val_accuracy") -> alt.Chart:
    """Validation curves of several runs on one chart (lib.compare.validation_curves)."""
    return (
        alt.Chart(
            table,
            title=_("{metric} per epoch").format(metric=_(METRIC_NAMES[metric]) if metric in METRIC_NAMES else metric),
        )
        .mark_line(point=True, strokeWidth=2.5)
        .encode(
            # whole epochs, never "1.000000"
            x=alt.X("epoch:Q", title=_title("epoch", "epoch"), axis=_epoch_axis(table["epoch"])),
            y=alt.Y(f"{metric}:Q", title=_title(METRIC_NAMES.get(metric, metric), metric), scale=alt.Scale(zero=False)),
            color=alt.Color("run:N", scale=alt.Scale(scheme=CATEGORICAL), legend=_legend(columns=1)),
            shape=alt.Shape("run:N", legend=None),
            tooltip=["run:N", "epoch:Q", alt.Tooltip(f"{metric}:Q", format=".3f")],
        )
    )


# --- Look inside (step 5) ---------------------------------------------------------------------


def probability_bars(table: pd.DataFrame, title: str | None = None) -> alt.Chart:
    """Horizontal bars of lib.evaluate.try_image.probabilities_table, largest first."""
    return (
        alt.Chart(table, title=title if title is not None else _("Class probabilities"))
        .mark_bar()
        .encode(
            x=alt.X(
                "probability:Q",
                title=_title("probability", "probability"),
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%"),
            ),
            y=alt.Y("class:N", sort=list(table["class"]), title=None, axis=alt.Axis(labelOverlap=False)),
            color=alt.condition(alt.datum.rank == 1, alt.value("#1565c0"), alt.value("#90a4ae")),
            tooltip=["class:N", alt.Tooltip("probability:Q", format=".2%")],
        )
        # fit-x: the height is the bars' own (22 px a class), not shared with title and axis
        .properties(height=22 * len(table), autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))
    )


def roc_chart(curves: pd.DataFrame, aucs: pd.DataFrame) -> alt.LayerChart:
    """One-vs-rest ROC per class (lib.evaluate.curves.roc_curves) and the chance diagonal; each
    class's AUC is in its tooltip (and the table beside the chart)."""
    auc = dict(zip(aucs["class"], aucs["auc"], strict=True))
    data = curves.assign(auc=curves["class"].map(auc))
    order = list(dict.fromkeys(curves["class"]))
    lines = (
        alt.Chart(data, title=_("ROC, one class vs the rest"))
        .mark_line(interpolate="step-after")
        .encode(
            x=alt.X("fpr:Q", title=_("false positive rate"), scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("tpr:Q", title=_("true positive rate (recall)"), scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("class:N", sort=order, title=_title("class", "class"), legend=alt.Legend(labelLimit=120)),
            tooltip=[
                "class:N",
                alt.Tooltip("auc:Q", format=".3f", title="AUC"),
                alt.Tooltip("threshold:Q", format=".3f"),
                alt.Tooltip("fpr:Q", format=".3f"),
                alt.Tooltip("tpr:Q", format=".3f"),
            ],
        )
    )
    chance = alt.Chart(pd.DataFrame({"fpr": [0, 1], "tpr": [0, 1]})).mark_line(strokeDash=[4, 4], color="gray")
    return (chance.encode(x="fpr:Q", y="tpr:Q") + lines).properties(height=320)


def pr_chart(curves: pd.DataFrame, aps: pd.DataFrame) -> alt.Chart:
    """One-vs-rest precision-recall per class (lib.evaluate.curves.pr_curves); AP in the tooltip."""
    ap = dict(zip(aps["class"], aps["average precision"], strict=True))
    data = curves.assign(ap=curves["class"].map(ap))
    return (
        alt.Chart(data, title=title_lines(_("Precision-recall, one class vs the rest"), HALF_TITLE_CHARS))
        .mark_line(interpolate="step-before")
        .encode(
            x=alt.X("recall:Q", title=_title("recall", "recall"), scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("precision:Q", title=_title("precision", "precision"), scale=alt.Scale(domain=[0, 1])),
            color=alt.Color(
                "class:N",
                sort=list(dict.fromkeys(curves["class"])),
                title=_title("class", "class"),
                legend=alt.Legend(labelLimit=120),
            ),
            order="recall:Q",
            tooltip=[
                "class:N",
                alt.Tooltip("ap:Q", format=".3f", title=_("average precision")),
                alt.Tooltip("threshold:Q", format=".3f"),
                alt.Tooltip("recall:Q", format=".3f"),
                alt.Tooltip("precision:Q", format=".3f"),
            ],
        )
        .properties(height=320)
    )


def threshold_chart(table: pd.DataFrame, threshold: float) -> alt.Chart:
    """Precision and recall per class at one threshold (lib.evaluate.curves.at_threshold)."""
    long = table.melt(id_vars=["class"], value_vars=["precision", "recall"], var_name="metric", value_name="value")
    return (
        alt.Chart(
            long,
            title=title_lines(
                _("Each class vs the rest at p >= {threshold}").format(threshold=f"{threshold:.2f}"), HALF_TITLE_CHARS
            ),
        )
        .mark_bar()
        .encode(
            x=alt.X(
                "class:N",
                sort=list(table["class"]),
                title=_title("class", "class"),
                axis=alt.Axis(labelOverlap=False, labelAngle=0),
            ),
            xOffset=alt.XOffset("metric:N", sort=list(RATE_NAMES)),
            y=alt.Y(
                "value:Q", title=_title("value", "value"), scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")
            ),
            color=alt.Color(
                "metric:N",
                sort=list(RATE_NAMES),
                title=_title("metric", "metric"),
                legend=_legend_or_default(RATE_NAMES),
            ),
            tooltip=["class:N", "metric:N", alt.Tooltip("value:Q", format=".1%")],
        )
        .properties(width="container", height=260)
    )


def reliability_chart(table: pd.DataFrame, ece: float) -> alt.LayerChart:
    """Reliability diagram (lib.evaluate.curves.reliability): accuracy per confidence bin
    against the diagonal of perfect calibration; bar widths are the bins."""
    data = table.dropna(subset=["accuracy"])
    bars = (
        alt.Chart(data, title=_("Reliability diagram (ECE {ece})").format(ece=f"{ece:.3f}"))
        .mark_bar(opacity=0.8, stroke="white")
        .encode(
            x=alt.X("low:Q", bin="binned", title=_("confidence (max probability)"), scale=alt.Scale(domain=[0, 1])),
            x2="high:Q",
            y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), title=_("accuracy")),
            tooltip=[
                alt.Tooltip("low:Q", format=".1f", title=_("from")),
                alt.Tooltip("high:Q", format=".1f", title=_("to")),
                alt.Tooltip("count:Q", title=_("images")),
                alt.Tooltip("confidence:Q", format=".3f", title=_("mean confidence")),
                alt.Tooltip("accuracy:Q", format=".3f"),
            ],
        )
    )
    points = alt.Chart(data).mark_point(color="black", filled=True).encode(x="confidence:Q", y="accuracy:Q")
    diagonal = alt.Chart(pd.DataFrame({"c": [0, 1], "a": [0, 1]})).mark_line(strokeDash=[4, 4], color="gray")
    return bars + diagonal.encode(x="c:Q", y="a:Q") + points


def embedding_chart(
    table: pd.DataFrame, title: str, selection: str = "box", axes: tuple[str, str] = ("PCA axis 1", "PCA axis 2")
) -> alt.Chart:
    """Scatter of lib.evaluate.embedding.embedding_table: colour = true class, shape =
    right/wrong, tooltip with the image (Vega's tooltip shows an "image" data URI), and an
    interval selection named `selection`. More than 5,000 rows: Altair's default data
    transformer refuses in to_dict() (use alt.data_transformers.disable_max_rows()); Streamlit's does not."""
    box = alt.selection_interval(name=selection, encodings=["x", "y"])
    tooltip = [
        "index:Q",
        alt.Tooltip("true:N", title=_("true class")),
        alt.Tooltip("predicted:N", title=_title("predicted", "predicted")),
        alt.Tooltip("confidence:Q", format=".1%"),
    ]
    if (table["image"] != "").any():
        tooltip.append(alt.Tooltip("image:N", title="image"))
    return (
        alt.Chart(table, title=title)
        .mark_point(size=36, opacity=0.75, filled=True)
        .encode(
            # Titled, unnumbered: the axes are directions in feature space, their units mean nothing.
            x=alt.X("x:Q", title=axes[0], axis=alt.Axis(labels=False, ticks=False)),
            y=alt.Y("y:Q", title=axes[1], axis=alt.Axis(labels=False, ticks=False)),
            color=alt.Color(
                "true:N",
                title=_("true class"),
                scale=alt.Scale(scheme="tableau10" if table["true"].nunique() <= 10 else "tableau20"),
            ),
            shape=alt.Shape(
                "result:N",
                sort=list(RESULT_NAMES),
                title=_title("result", "result"),
                scale=alt.Scale(range=["circle", "cross"]),
                legend=_legend_or_default(RESULT_NAMES),
            ),
            tooltip=tooltip,
        )
        .add_params(box)
        .properties(height=480)
    )


# --- In front of a class -----------------------------------------------------------------------
ROOM_FONT = 16  # px: chart, axis and legend text on a projector (Vega's default is 10-12)
ROOM_TITLE = 20
ROOM_STEP = 1.45  # heatmap cells grow with their numbers


def _room_marks(chart) -> None:
    """Text marks (cell numbers, line labels) at least ROOM_FONT, heatmap cells wider to hold them."""
    for layer in getattr(chart, "layer", None) or []:
        _room_marks(layer)
    inner = getattr(chart, "spec", None)
    if isinstance(inner, alt.SchemaBase):  # a facet's inner chart
        _room_marks(inner)
    mark = getattr(chart, "mark", None)
    if mark == "text":
        chart.mark = alt.MarkDef(type="text", fontSize=ROOM_FONT)
    elif isinstance(mark, alt.MarkDef) and mark.type == "text":
        size = mark.fontSize if isinstance(mark.fontSize, int | float) else 0
        mark.fontSize = max(size, ROOM_FONT)
    for side in ("width", "height"):
        value = getattr(chart, side, None)
        if isinstance(value, alt.Step):
            setattr(chart, side, alt.Step(round(value.step * ROOM_STEP)))


ROOM_TITLE_CHARS = 24  # a 20 px title line that fits a half-width chart at 1024 px with the sidebar open


def title_lines(text: str, chars: int) -> str | list[str]:
    """A title as lines of at most `chars` characters, broken at spaces (Vega-Lite draws a list
    of lines as a multi-line title; one long line it cuts with an ellipsis at the chart's width)."""
    if text.isascii():
        lines = textwrap.wrap(text, chars, break_long_words=False, break_on_hyphens=False)
    else:  # Hangul (and other wide letters) take about two Latin letters' room: count them twice
        lines = _wide_wrap(text, chars)
    return lines[0] if len(lines) == 1 else lines or text


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _wide_wrap(text: str, chars: int) -> list[str]:
    """Lines of at most `chars` columns (a wide letter counts two), broken at spaces only: Korean
    breaks between words (a word longer than a line keeps a line of its own)."""
    lines: list[str] = []
    for word in text.split():
        if lines and _width(lines[-1]) + 1 + _width(word) <= chars:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _wrap_titles(chart, chars: int) -> None:
    """Every chart title of `chart`, its layers and its facet's inner chart, in lines of `chars`."""
    for part in [chart, *(getattr(chart, "layer", None) or [])]:
        if part is not chart:
            _wrap_titles(part, chars)
        title = getattr(part, "title", alt.Undefined)
        if isinstance(title, str):
            part.title = title_lines(title, chars)
        elif isinstance(title, list) and all(isinstance(line, str) for line in title):
            part.title = title_lines(" ".join(title), chars)
        elif isinstance(title, alt.TitleParams) and isinstance(title.text, str | list):
            title.text = title_lines(title.text if isinstance(title.text, str) else " ".join(title.text), chars)
    inner = getattr(chart, "spec", None)
    if isinstance(inner, alt.SchemaBase):
        _wrap_titles(inner, chars)


def for_room(chart):
    """The same chart for a projector: every axis, legend, header, title and text mark at
    ROOM_FONT px or more, and titles in lines short enough for a half-width chart (a copy; the
    data and encodings are unchanged)."""
    room = chart.copy(deep=True)
    _room_marks(room)
    _wrap_titles(room, ROOM_TITLE_CHARS)
    return (
        room.configure_axis(labelFontSize=ROOM_FONT, titleFontSize=ROOM_FONT)
        .configure_legend(labelFontSize=ROOM_FONT, titleFontSize=ROOM_FONT, symbolSize=180)
        .configure_header(labelFontSize=ROOM_FONT, titleFontSize=ROOM_FONT)
        .configure_title(fontSize=ROOM_TITLE, subtitleFontSize=ROOM_FONT)
        .configure_text(fontSize=ROOM_FONT)
    )
