"""One self-contained HTML file per run, to hand out: it opens offline, with no network.

Charts are rendered to static SVG here (vl-convert, the Vega-Lite compiler Altair uses for
chart.save(format="svg")) and inlined, so the file references no CDN, no script and no font
server. Images are inline base64 PNGs. Every string that came from a user or a file (class
names, dataset and file names, notes, settings) goes through html.escape.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from lib import charts, i18n
from lib.evaluate import curves, metrics

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222;
padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:1em}
.mistakes{display:flex;flex-wrap:wrap;gap:.8em}.mistakes figure{margin:0;text-align:center;font-size:.85em}
.mistakes img{image-rendering:pixelated;width:88px;height:88px;object-fit:contain;border:1px solid #ccc}
.note{color:#555}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def chart_svg(chart: Any) -> str:
    """A chart as inline SVG (vl-convert), or a one-line note when vl-convert is missing."""
    try:
        import vl_convert as vlc
    except ImportError:
        return '<p class="note">(chart not drawn: pip install vl-convert-python)</p>'
    # Room-sized text (16 px): the report is read on a laptop or projected, its SVG often scaled down.
    svg = vlc.vegalite_to_svg(charts.for_room(chart).to_dict())
    # Inline SVG in HTML needs no XML prolog; the namespace URIs are names, not fetched resources.
    return re.sub(r"^<\?xml[^>]*>\s*", "", svg)


def png_uri(img: np.ndarray, side: int = 88) -> str:
    arr = np.asarray(img, np.uint8)
    arr = arr[..., 0] if arr.ndim == 3 and arr.shape[-1] == 1 else arr
    im = Image.fromarray(arr)
    factor = max(1, side // max(im.size))
    if factor > 1:
        im = im.resize((im.width * factor, im.height * factor), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _fmt(value: Any, spec: str) -> str:
    if spec == "d" and isinstance(value, (int, float, np.number)) and np.isfinite(value):
        return str(int(value))
    if spec and isinstance(value, (int, float, np.number)):
        return "n/a" if not np.isfinite(value) else format(value, spec)
    return str(value)


def _table(df: pd.DataFrame, formats: dict[str, str] | None = None, index_title: str = "") -> str:
    formats = formats or {}
    head = f'<th class="l">{_e(index_title)}</th>' + "".join(f"<th>{_e(c)}</th>" for c in df.columns)
    rows = []
    for idx, row in df.iterrows():
        cells = "".join(f"<td>{_e(_fmt(v, formats.get(c, '')))}</td>" for c, v in row.items())
        rows.append(f'<tr><th class="l">{_e(idx)}</th>{cells}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def confusion_html(cm: np.ndarray, class_names) -> str:
    """Counts, each cell coloured by its share of the true class (row), with that share printed
    under the count: colour and the printed percentage are the same normalization."""
    share = metrics.normalize(cm, "true")
    head = '<th class="l">true \\ predicted</th>' + "".join(f"<th>{_e(n)}</th>" for n in class_names)
    rows = []
    for i, name in enumerate(class_names):
        cells = []
        for j in range(len(class_names)):
            s = share[i, j]
            bg = f"rgba(21,101,192,{0.08 + 0.85 * s:.3f})" if cm[i, j] else "#fff"
            fg = "#fff" if s > 0.5 else "#222"
            cells.append(f'<td style="background:{bg};color:{fg}">{int(cm[i, j])}<br><small>{s:.0%}</small></td>')
        rows.append(f'<tr><th class="l">{_e(name)}</th>{"".join(cells)}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def export_html(run: Any) -> list[str]:
    """The LiteRT export table (and each export's per-class changes), when exports exist."""
    from lib.runs import export

    found = export.list_exports(run) if getattr(run, "path", None) is not None else []
    if not found:
        return []
    table = export.comparison_table(run, found).set_index("model")
    parts = [
        "<h2>Exports (LiteRT, run back on the test split)</h2>",
        f'<p class="note">{_e(found[0].runtime)}; milliseconds per image at batch 1 on the machine that exported.</p>',
        _table(
            table,
            {
                "file size (KB)": ",.1f",
                "accuracy": ".1%",  # every share in percent, as the page and the lesson write them
                "balanced accuracy": ".1%",
                "agreement": ".1%",
                "ms per image": ".2f",
            },
            "model",
        ),
    ]
    for done in found:
        per_class = export.per_class_table(run, done)
        changes = [c for c in per_class.columns if c.endswith("change")]
        # a change of a share in percentage points, said in its column's name
        shown = per_class.set_index("class").assign(**{c: per_class[c].to_numpy() * 100 for c in changes})
        shown = shown.rename(columns={c: f"{c} (pp)" for c in changes})
        parts += [
            f"<h3>{_e(done.title)}: per class</h3>",
            f"<p><b>{_e(export.lesson(per_class, done))}</b></p>",
            _table(shown, {c: ("+.1f" if c.endswith("(pp)") else ".1%") for c in shown.columns}, "class"),
        ]
    return parts


def build_report(run: Any, x_test: np.ndarray | None = None, *, mistakes: int = 12) -> str:
    """The whole HTML page for a stored run. `x_test` (the dataset's test images, in the
    run's order) adds the most confident mistakes as images. English throughout, whoever asks:
    the chart titles and the export lesson it borrows speak the caller's language otherwise."""
    with i18n.using("en"):
        return _build_report(run, x_test, mistakes=mistakes)


def _build_report(run: Any, x_test: np.ndarray | None, *, mistakes: int) -> str:
    names = list(run.class_names)
    record = run.record
    settings = record.config.settings_dict()
    dataset = record.dataset.to_dict()
    cm = run.test_confusion
    # The one majority baseline, as recorded in the run (NaN for runs stored before it was).
    summary = metrics.summary(cm, record.baseline.class_index if record.baseline else None)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(record.display_name)} · run {_e(run.run_id)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{_e(record.display_name)} on {_e(dataset.get('label', ''))}</h1>",
        f"<p>Run {_e(run.run_id)} · model {_e(record.model)} · {_e(record.config.mode_text())}</p>",
        f"<p>Status <b>{_e(run.status)}</b> · {_e(record.message)} · "
        f"{_e(record.epochs_done)} epoch(s) · created {_e(record.created)}</p>",
        "<h2>Data set</h2>",
        _table(
            pd.DataFrame(
                {
                    "value": [
                        dataset.get("label", ""),
                        dataset.get("name", ""),
                        "x".join(str(d) for d in dataset.get("image_shape", [])),
                        len(names),
                        len(run.y_true),
                        str(dataset.get("fingerprint", ""))[:16],
                    ]
                },
                index=["source", "name", "image shape", "classes", "test images", "fingerprint"],
            )
        ),
        "<p>Classes: " + ", ".join(_e(n) for n in names) + "</p>",
        "<h2>Settings</h2>",
        _table(
            pd.DataFrame(
                {"value": [json.dumps(v) if isinstance(v, (dict, list)) else v for v in settings.values()]},
                index=list(settings),
            )
        ),
    ]
    notes = [str(n) for n in record.notes]
    parts += [
        "<h2>Notes</h2>",
        "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>" if notes else "<p>None.</p>",
    ]
    parts += [
        "<h2>Test results</h2>",
        "<p>" + " · ".join(f"{_e(k)} <b>{v:.1%}</b>" for k, v in summary.items()) + "</p>",
        "<h3>Confusion matrix (rows true, columns predicted)</h3>",
        confusion_html(cm, names),
        "<h3>Classification report</h3>",
        _table(
            metrics.report(cm, names),
            {"precision": ".3f", "recall": ".3f", "f1-score": ".3f", "support": "d"},
        ),
    ]
    if not run.history.empty:
        parts += [
            "<h2>Training curves</h2>",
            '<div class="charts">',
            chart_svg(charts.curves_chart(run.history, "loss")),
            chart_svg(charts.curves_chart(run.history, "accuracy")),
            "</div>",
        ]
    roc, aucs = curves.roc_curves(run.y_true, run.y_prob, names)
    pr, aps = curves.pr_curves(run.y_true, run.y_prob, names)
    rel, ece = curves.reliability(run.y_true, run.y_prob)
    per_class = aucs.merge(aps[["class", "average precision"]], on="class").set_index("class")
    parts += [
        "<h2>Curves per class (one vs the rest)</h2>",
        '<div class="charts">',
        chart_svg(charts.roc_chart(roc, aucs)) if not roc.empty else "",
        chart_svg(charts.pr_chart(pr, aps)) if not pr.empty else "",
        chart_svg(charts.reliability_chart(rel, ece)),
        "</div>",
        _table(per_class, {"auc": ".3f", "average precision": ".3f", "positives": "d"}, "class"),
        f"<p>Expected calibration error (10 bins, top-label confidence): <b>{ece:.4f}</b></p>",
    ]
    parts += export_html(run)
    idx = metrics.confident_mistakes(run.y_true, run.y_prob, mistakes)
    parts.append("<h2>Most confident mistakes</h2>")
    if x_test is None or len(x_test) != len(run.y_true):
        parts.append('<p class="note">Images not included (the test images were not available).</p>')
    elif len(idx) == 0:
        parts.append("<p>No mistakes on the test set.</p>")
    else:
        figs = []
        for i in idx:
            pred = int(run.y_prob[i].argmax())
            caption = f"#{int(i)} true {names[run.y_true[i]]} → {names[pred]} {run.y_prob[i, pred]:.0%}"
            figs.append(
                f'<figure><img alt="{_e(caption)}" src="{png_uri(x_test[i])}"><figcaption>{_e(caption)}'
                "</figcaption></figure>"
            )
        parts.append(f'<div class="mistakes">{"".join(figs)}</div>')
    versions = record.versions
    if versions:
        parts.append('<p class="note">' + " · ".join(f"{_e(k)} {_e(v)}" for k, v in versions.items()) + "</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
