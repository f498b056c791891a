"""Altair chart builders: DataFrame in, alt.Chart out (pure, tested through to_dict())."""

from __future__ import annotations

import altair as alt
import pandas as pd


def class_balance_chart(counts: pd.DataFrame) -> alt.Chart:
    """Bars of images per class, train and test side by side.

    `counts` is lib.stats.class_counts(): columns class, name, train, test.
    """
    long = counts.melt(id_vars=["class", "name"], value_vars=["train", "test"], var_name="split", value_name="images")
    total = long.groupby("split")["images"].transform("sum")
    long["share"] = (long["images"] / total.where(total > 0, 1)).round(4)
    order = list(counts["name"])
    return (
        alt.Chart(long, title="Images per class")
        .mark_bar()
        .encode(
            x=alt.X("name:N", sort=order, title="class"),
            xOffset=alt.XOffset("split:N", sort=["train", "test"]),
            y=alt.Y("images:Q", title="images"),
            color=alt.Color("split:N", sort=["train", "test"], title="split"),
            tooltip=[
                alt.Tooltip("name:N", title="class"),
                alt.Tooltip("split:N"),
                alt.Tooltip("images:Q"),
                alt.Tooltip("share:Q", format=".1%", title="share of split"),
            ],
        )
    )


def distribution_chart(table: pd.DataFrame, title: str = "Pixel values the model sees") -> alt.Chart:
    """Overlaid histograms on one value axis (lib.augment_preview.distribution_table)."""
    return (
        alt.Chart(table, title=title)
        .mark_bar(opacity=0.55, binSpacing=0)
        .encode(
            x=alt.X("value_start:Q", bin="binned", title="pixel value"),
            x2="value_end:Q",
            y=alt.Y("share:Q", stack=None, title="share of pixel values", axis=alt.Axis(format="%")),
            color=alt.Color("images:N", title=None, legend=alt.Legend(orient="bottom")),
            tooltip=[
                "images:N",
                alt.Tooltip("value_start:Q", format=".3g", title="from"),
                alt.Tooltip("value_end:Q", format=".3g", title="to"),
                alt.Tooltip("share:Q", format=".1%"),
            ],
        )
    )


def curves_chart(history: pd.DataFrame, metric: str) -> alt.Chart:
    """Train vs validation `metric` ("loss" or "accuracy") per epoch: overfitting shows as a gap."""
    long = pd.DataFrame(
        {
            "epoch": list(history["epoch"]) * 2,
            "split": ["train"] * len(history) + ["validation"] * len(history),
            metric: list(history[metric]) + list(history[f"val_{metric}"]),
        }
    )
    return (
        alt.Chart(long, title=f"{metric}: train vs validation")
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y(f"{metric}:Q", scale=alt.Scale(zero=False)),
            color=alt.Color("split:N", sort=["train", "validation"]),
            tooltip=["epoch:Q", "split:N", alt.Tooltip(f"{metric}:Q", format=".4f")],
        )
    )


def per_class_chart(history: pd.DataFrame, class_names: list[str], classes: list[int], metric: str) -> alt.Chart:
    """Exact validation `metric` (precision, recall or f1) per class over epochs."""
    rows = []
    for i in classes:
        for epoch, value in zip(history["epoch"], history[f"val_{metric}_{i}"], strict=False):
            rows.append({"epoch": epoch, "class": class_names[i], metric: value})
    return (
        alt.Chart(pd.DataFrame(rows), title=f"validation {metric} per class")
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y(f"{metric}:Q", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("class:N", sort=[class_names[i] for i in classes]),
            tooltip=["epoch:Q", "class:N", alt.Tooltip(f"{metric}:Q", format=".3f")],
        )
    )


def confusion_heatmap(table: pd.DataFrame, how: str | None, title: str = "Confusion matrix") -> alt.LayerChart:
    """Heatmap of lib.metrics.confusion_table: colour and printed numbers are the same
    `value` column (counts, or the chosen normalization), never one of each."""
    order = list(dict.fromkeys(table["true"]))
    max_value = float(table["value"].max()) or 1.0
    base = alt.Chart(table, title=title).encode(
        x=alt.X("predicted:N", sort=order, title="predicted class"),
        y=alt.Y("true:N", sort=order, title="true class"),
    )
    tooltip = [
        "true:N",
        "predicted:N",
        alt.Tooltip("count:Q", title="images"),
        alt.Tooltip("share_of_true:Q", format=".1%", title="% of true class (recall row)"),
        alt.Tooltip("share_of_pred:Q", format=".1%", title="% of predicted class (precision column)"),
    ]
    cells = base.mark_rect().encode(
        color=alt.Color(
            "value:Q",
            scale=alt.Scale(scheme="blues", domain=[0, max_value]),
            title="images" if how is None else "share",
        ),
        tooltip=tooltip,
    )
    text = base.mark_text(fontSize=11).encode(
        text="label:N",
        color=alt.condition(alt.datum.value > max_value / 2, alt.value("white"), alt.value("black")),
        tooltip=tooltip,
    )
    return (cells + text).properties(height=alt.Step(28), width=alt.Step(28))


def difference_heatmap(diff, class_names, title: str = "B minus A (normalized by true class)") -> alt.LayerChart:
    """Diverging heatmap of a difference of two normalized confusion matrices."""
    k = len(class_names)
    rows = [
        {
            "true": class_names[i],
            "predicted": class_names[j],
            "difference": float(diff[i, j]),
            "label": f"{diff[i, j]:+.0%}" if abs(diff[i, j]) >= 0.005 else "",
        }
        for i in range(k)
        for j in range(k)
    ]
    data = pd.DataFrame(rows)
    limit = max(0.01, float(abs(data["difference"]).max()))
    base = alt.Chart(data, title=title).encode(
        x=alt.X("predicted:N", sort=list(class_names)), y=alt.Y("true:N", sort=list(class_names))
    )
    cells = base.mark_rect().encode(
        color=alt.Color("difference:Q", scale=alt.Scale(scheme="redblue", domain=[-limit, limit])),
        tooltip=["true:N", "predicted:N", alt.Tooltip("difference:Q", format="+.1%")],
    )
    return (cells + base.mark_text(fontSize=11).encode(text="label:N")).properties(
        height=alt.Step(28), width=alt.Step(28)
    )


def f1_delta_chart(table: pd.DataFrame) -> alt.Chart:
    """Bars of per-class F1 difference B minus A (lib.compare.f1_deltas)."""
    return (
        alt.Chart(table, title="per-class F1: B minus A")
        .mark_bar()
        .encode(
            x=alt.X("class:N", sort=list(table["class"])),
            y=alt.Y("delta:Q", title="F1 difference"),
            color=alt.condition(alt.datum.delta >= 0, alt.value("#2e7d32"), alt.value("#c62828")),
            tooltip=["class:N", alt.Tooltip("delta:Q", format="+.3f")],
        )
    )


def runs_curves_chart(table: pd.DataFrame, metric: str = "val_accuracy") -> alt.Chart:
    """Validation curves of several runs on one chart (lib.compare.validation_curves)."""
    return (
        alt.Chart(table, title=f"{metric} per epoch")
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y(f"{metric}:Q", scale=alt.Scale(zero=False)),
            color="run:N",
            tooltip=["run:N", "epoch:Q", alt.Tooltip(f"{metric}:Q", format=".3f")],
        )
    )
