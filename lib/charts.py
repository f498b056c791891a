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
            tooltip=["images:N", alt.Tooltip("value_start:Q", format=".3g", title="from"),
                     alt.Tooltip("value_end:Q", format=".3g", title="to"), alt.Tooltip("share:Q", format=".1%")],
        )
    )
