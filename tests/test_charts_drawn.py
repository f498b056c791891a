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
