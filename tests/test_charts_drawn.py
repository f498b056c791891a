"""Charts as Vega draws them: the SVG vl-convert renders from the spec Streamlit sends (legend
symbols, plot size), not only the encodings the spec asks for."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from lib import charts

SVG = "{http://www.w3.org/2000/svg}"


def _svg(chart) -> ET.Element:
    import vl_convert as vlc

    return ET.fromstring(vlc.vegalite_to_svg(chart.to_dict()))


def _classes(el: ET.Element) -> set[str]:
    return set((el.get("class") or "").split())


def _legend_entries(svg: ET.Element) -> dict[str, ET.Element]:
    """{label: the path its symbol draws} of every legend entry."""
    entries = {}
    for entry in svg.iter(f"{SVG}g"):
        groups = list(entry.iter(f"{SVG}g"))
        symbol = next((g for g in groups if "role-legend-symbol" in _classes(g)), None)
        label = next((g for g in groups if "role-legend-label" in _classes(g)), None)
        if symbol is None or label is None or entry in (symbol, label):
            continue
        text = "".join(label.itertext()).strip()
        path = symbol.find(f"{SVG}path")
        if text and path is not None:
            entries[text] = path  # an entry's innermost group comes last: its own symbol
    return entries


def _plot_height(svg: ET.Element) -> float:
    """The height of the chart's plot: the background rectangle of its root group's view
    ("M0.5,0.5h<width>v<height>h-<width>Z"); title, axes and legends are drawn around it."""
    root = next(g for g in svg.iter(f"{SVG}g") if {"role-frame", "root"} <= _classes(g))
    background = root.find(f"{SVG}g/{SVG}path")
    match = re.search(r"v([\d.]+)h", background.get("d", "")) if background is not None else None
    assert match, "no view background drawn"
    return float(match.group(1))


HISTORY = pd.DataFrame(
    {"epoch": [1, 2, 3], "val_recall_0": [0.5, 0.6, 0.7], "val_recall_1": [0.4, 0.5, 0.9]}
    | {"val_batch_recall_0": [0.45, 0.55, 0.65], "val_batch_recall_1": [0.3, 0.6, 0.8]}
)


@pytest.mark.parametrize("room", [False, True], ids=["plain", "present"])
def test_per_class_dash_legend_draws_the_lines_strokes_and_the_plot_is_readable(room):
    """The legend that tells exact (solid) from batch-averaged (dashed) lines draws each entry as a
    visible stroke with the dash of its lines; the plot keeps a projector-readable height."""
    chart = charts.per_class_chart(HISTORY, ["cat", "dog"], [0, 1], "recall", batch_averaged=True)
    dashes = chart.to_dict()["layer"][0]["encoding"]["strokeDash"]["scale"]["range"]
    svg = _svg(charts.for_room(chart) if room else chart)
    drawn = {  # the dash of every line the plot draws
        path.get("stroke-dasharray")
        for g in svg.iter(f"{SVG}g")
        if {"mark-line", "role-mark"} <= _classes(g)
        for path in g.iter(f"{SVG}path")
    }
    entries = _legend_entries(svg)
    for name, dash in zip((charts.EXACT, charts.BATCH_AVERAGED), dashes, strict=True):
        path = entries[name]
        stroke = path.get("stroke")
        assert stroke not in (None, "none", "transparent"), f"{name}: its legend stroke is not drawn ({stroke})"
        assert float(path.get("stroke-width", "0")) >= 2, name
        assert path.get("stroke-dasharray") == ",".join(map(str, dash)) and path.get("stroke-dasharray") in drawn
        # a line long enough to show two dashes, not a dot
        x0, x1 = (float(v) for v in re.fullmatch(r"M(-?[\d.]+),0L(-?[\d.]+),0", path.get("d")).groups())
        assert x1 - x0 >= 2 * sum(dashes[-1]), path.get("d")
    assert _plot_height(svg) >= 220


def _axis_labels(svg: ET.Element, title: str) -> list[str]:
    """The tick labels of the axis titled `title`, as drawn."""
    for axis in svg.iter(f"{SVG}g"):
        if "role-axis" not in _classes(axis):
            continue
        titles = [g for g in axis.iter(f"{SVG}g") if "role-axis-title" in _classes(g)]
        if titles and "".join(titles[0].itertext()).strip() == title:
            labels = [g for g in axis.iter(f"{SVG}g") if "role-axis-label" in _classes(g)]
            return ["".join(t.itertext()).strip() for t in labels[0].iter(f"{SVG}text")] if labels else []
    return []


@pytest.mark.parametrize("epochs", [1, 2, 3, 7, 30])
def test_epoch_axes_count_each_epoch_once(epochs):
    """The curves (as the HTML report draws them, at the room's size), per-class and Compare's
    curves: every tick a whole epoch, none twice ("1 2 2 3 3" was drawn for 3 epochs)."""
    history = pd.DataFrame({"epoch": range(1, epochs + 1)})
    for col in ("loss", "val_loss", "val_recall_0", "val_recall_1"):
        history[col] = [0.5 + 0.01 * e for e in range(epochs)]
    runs = pd.DataFrame({"epoch": list(history["epoch"]) * 2, "run": ["a"] * epochs + ["b"] * epochs,
                         "val_accuracy": [0.5] * (2 * epochs)})  # fmt: skip
    drawn = {
        "curves": charts.for_room(charts.curves_chart(history, "loss")),
        "per class": charts.per_class_chart(history, ["a", "b"], [0, 1], "recall"),
        "runs": charts.runs_curves_chart(runs),
    }
    for name, chart in drawn.items():
        labels = _axis_labels(_svg(chart), "epoch")
        assert labels, f"{name}: no epoch axis drawn"
        assert all(re.fullmatch(r"\d+", t) for t in labels), (name, labels)
        assert len(labels) == len(set(labels)), (name, labels)
        if epochs <= 20:  # epochs only (Vega may hide every other label where they would touch)
            assert {int(t) for t in labels} <= set(range(1, epochs + 1)), (name, labels)


def _fill(svg: ET.Element, aria: str) -> tuple[int, int, int]:
    """The fill (r, g, b) of the heatmap cell whose aria-label holds `aria`."""
    for path in svg.iter(f"{SVG}path"):
        if aria in (path.get("aria-label") or ""):
            h = (path.get("fill") or "").lstrip("#")
            if len(h) == 6:
                return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
            return tuple(int(v) for v in re.findall(r"\d+", path.get("fill") or ""))[:3]  # rgb(...)
    raise AssertionError(f"no cell {aria!r}")


def test_the_difference_heatmap_draws_a_gain_blue_and_a_loss_red():
    """What Compare's caption says: B's larger share of a true class in a cell is blue, a smaller one
    red, as drawn (the diagonal cell 'a → a' gains, the mistake 'a → b' loses)."""
    import numpy as np

    diff = np.array([[0.2, -0.2], [0.0, 0.0]])  # B gets 20 points more of class a right
    svg = _svg(charts.difference_heatmap(diff, ["a", "b"]))
    gain, loss = _fill(svg, "predicted: a; true: a;"), _fill(svg, "predicted: b; true: a;")
    assert gain[2] > gain[0] and loss[0] > loss[2], (gain, loss)


def test_reliability_bars_below_the_diagonal_are_overconfident_above_underconfident():
    """Look inside's caption, as drawn: a model sure (0.9) and right half the time draws its bar
    below the diagonal; one unsure (0.55 on 2 classes) and always right draws it above."""
    import numpy as np

    from lib.evaluate import curves

    y_true = np.array([0, 1] * 50)
    for p, right, below in ((0.9, [True, False] * 50, True), (0.55, [True] * 100, False)):
        pred = np.where(right, y_true, 1 - y_true)
        y_prob = np.zeros((100, 2))
        y_prob[np.arange(100), pred], y_prob[np.arange(100), 1 - pred] = p, 1 - p
        table, ece = curves.reliability(y_true, y_prob)
        svg = _svg(charts.reliability_chart(table, ece))
        bars = [b for b in svg.iter(f"{SVG}path") if b.get("aria-roledescription") == "bar"]
        (bar,) = [b for b in bars if "accuracy" in (b.get("aria-label") or "")]
        accuracy = float(re.search(r"accuracy: ([0-9.]+)", bar.get("aria-label")).group(1))
        confidence = float(re.search(r"mean confidence: ([0-9.]+)", bar.get("aria-label")).group(1))
        assert (accuracy < confidence) is below, (p, accuracy, confidence)
