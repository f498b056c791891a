"""Column headers of the tables the pages show, in the session's language.

The DataFrames keep their English column names (tests, the CLI and the HTML report read them);
only the header a person reads is translated, through `st.dataframe(column_config=...)`.
"""

from __future__ import annotations

import pandas as pd

from lib.i18n import N_, _

HEADERS: dict[str, str] = {
    "class": N_("class"),
    "name": N_("name"),
    "train": N_("train"),
    "test": N_("test"),
    "split": N_("split"),
    "channel": N_("channel"),
    "min": N_("min"),
    "max": N_("max"),
    "mean": N_("mean"),
    "std": N_("std"),
    "images": N_("images"),
    "test index": N_("test index"),
    "test label": N_("test label"),
    "train indices": N_("train indices"),
    "train labels": N_("train labels"),
    "run": N_("run"),
    "model": N_("model"),
    "mode": N_("mode"),
    "augmentation": N_("augmentation"),
    "epochs": N_("epochs"),
    "status": N_("status"),
    "seconds": N_("seconds"),
    "accuracy": N_("accuracy"),
    "balanced accuracy": N_("balanced accuracy"),
    "macro F1": N_("macro F1"),
    "majority baseline": N_("majority baseline"),
    "vs majority baseline": N_("vs majority baseline"),
    "study step": N_("study step"),
    "step": N_("step"),
    "training s": N_("training s"),
    "seed": N_("seed"),
    "validation split": N_("validation split"),
    "test images": N_("test images"),
    "tutorial's test accuracy": N_("tutorial's test accuracy"),
    "yours": N_("yours"),
    "auc": N_("AUC"),
    "average precision": N_("average precision"),
    "prevalence": N_("prevalence"),
    "positives": N_("positives"),  # test images of the class (one-vs-rest positives)
    "precision": N_("precision"),
    "recall": N_("recall"),
    "predicted": N_("predicted"),
    "bin": N_("bin"),
    "count": N_("count"),
    "confidence": N_("confidence"),
    "gap": N_("gap"),
    "true": N_("true"),
    "value": N_("value"),
    "loss": N_("loss"),
    "f1-score": N_("f1-score"),
    "support": N_("support"),
    "share of true class": N_("share of true class"),
    "agreement": N_("agreement"),
    "val recall": N_("val recall"),
    "val precision": N_("val precision"),
    "layer": N_("layer"),
    "type": N_("type"),
    "output shape": N_("output shape"),
    "params": N_("params"),
    "trainable": N_("trainable"),
    "backbone": N_("backbone"),
}


def header(column: str) -> str:
    """A column's header as shown: translated when it is one of ours, else as it is
    ("F1 cat" keeps the class name; a class name is never translated)."""
    if column in HEADERS:
        return _(HEADERS[column])
    if column.startswith("F1 "):
        return _("F1 {name}").format(name=column[3:])
    return column


def column_labels(table: pd.DataFrame) -> dict[str, str]:
    """`column_config` for st.dataframe: every column (and a named index) under its shown header."""
    config = {str(c): header(str(c)) for c in table.columns}
    if table.index.name is not None:
        config["_index"] = header(str(table.index.name))
    return config


# Row labels and headers of the HTML report's and the CLI's printed tables (the DataFrames keep these
# English names).
LABELS: dict[str, str] = {
    "source": N_("source"),
    "image shape": N_("image shape"),
    "classes": N_("classes"),
    "train images": N_("train images"),  # `inspect`'s summary lines
    "channels": N_("channels"),
    "pixel range": N_("pixel range"),
    "fingerprint": N_("fingerprint"),
    "positives": N_("positives"),
    "auc": N_("auc"),  # the report has always printed it lowercase (the pages say "AUC")
    "file size (KB)": N_("file size (KB)"),
    "ms per image": N_("ms per image"),
    "recall (Keras)": N_("recall (Keras)"),
    "recall (LiteRT)": N_("recall (LiteRT)"),
    "recall change": N_("recall change"),
    "precision (Keras)": N_("precision (Keras)"),
    "precision (LiteRT)": N_("precision (LiteRT)"),
    "precision change": N_("precision change"),
    # scikit-learn's summary rows of the classification report
    "accuracy": N_("accuracy"),
    "macro avg": N_("macro avg"),
    "weighted avg": N_("weighted avg"),
}


def label(text: object) -> str:
    """A header or row label as shown: ours translated, anything else (a class name) as it is."""
    key = str(text)
    if key in LABELS:
        return _(LABELS[key])
    return header(key)


# A run's status as shown (the stored value stays the code).
STATUS: dict[str, str] = {
    "complete": N_("complete"),
    "stopped": N_("stopped"),
    "failed": N_("failed"),
}
