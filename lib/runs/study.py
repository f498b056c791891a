"""The study every course ends with: own CNN -> feature extraction -> fine-tuning ->
fine-tuning + augmentation, on one split and seed, trained (or loaded) step by step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lib.augment.settings import preset
from lib.data.dataset import Dataset
from lib.errors import ExplorerError, StoreError, one_line
from lib.i18n import N_, _
from lib.runs.compare import runs_table
from lib.runs.config import RunRecord, can_be_backbone
from lib.runs.store import RunStore, StoredRun
from lib.runs.train_or_load import Outcome, train_or_load
from lib.train.settings import TrainSettings
from lib.train.transfer import BackboneRef

LADDER = (N_("own CNN"), N_("feature extraction"), N_("fine-tuning"), N_("fine-tuning + augmentation"))


def ladder(
    backbone: str,
    weights: str = "imagenet",
    epochs: int = 5,
    seed: int = 0,
    unfreeze: int = 4,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
) -> list[tuple[str, TrainSettings]]:
    """The study every course ends with, on one split and seed."""
    common = {"epochs": epochs, "seed": seed, "batch_size": batch_size, "learning_rate": learning_rate}
    transfer = {"model": backbone, "weights": weights, **common}
    return [
        (LADDER[0], TrainSettings(model="cnn", **common)),
        (LADDER[1], TrainSettings(transfer="feature_extraction", **transfer)),
        (LADDER[2], TrainSettings(transfer="fine_tune", unfreeze=unfreeze, **transfer)),
        (LADDER[3], TrainSettings(transfer="fine_tune", unfreeze=unfreeze, augment=preset("mild"), **transfer)),
    ]


# The three-animals tutorial (hedgehog, hamster, poodle; VGG16), exactly as written, and the
# test accuracy it reported for each step.
TUTORIAL_ACCURACY = dict(zip(LADDER, (0.50, 0.54, 0.85, 0.88), strict=True))
TUTORIAL_AUGMENT = "tutorial: rotate 30, shift 0.2, zoom 0.2, flip"
# What our default ladder does differently from the tutorial, and why (shown beside the study).
DIFFERENCES = (
    N_(
        "Feature extraction: we freeze the backbone (trainable=False); the tutorial never did, so all 14.7 M VGG16 "
        "weights trained on raw pixels (its summary said 'Non-trainable params: 0')."
    ),
    N_(
        "Input: we apply the backbone's own preprocess_input (BGR, mean subtracted); "
        "the tutorial fed raw 0..255 pixels."
    ),
    N_(
        "Validation: we hold out a shuffled, stratified part (20%) of the training split; Keras' validation_split "
        "takes the LAST 20%, unshuffled, of the arrays, and the augmentation step had no validation at all."
    ),
    N_("BatchNormalization layers of a backbone stay frozen in every mode (VGG16 has none; MobileNetV2 has 52)."),
    N_(
        "Fine-tuning: we unfreeze the backbone's last N weighted layers; the tutorial unfroze block5_conv3 only "
        "(2,359,808 weights), which is VGG16's last weighted layer: N = 1."
    ),
    N_("Head: we pool and add one softmax layer; the tutorial flattened the 7x7x512 map into Dense 128/64/32."),
)


def tutorial_ladder(
    weights: str = "imagenet", epochs: int = 50, seed: int = 0, batch_size: int = 128
) -> list[tuple[str, TrainSettings]]:
    """The three-animals tutorial's four steps as it wrote them: its own CNN; VGG16 with
    NOTHING frozen on raw pixels; only block5_conv3 trainable; the same + its augmentation.
    Every step: Flatten + Dense 128/64/32 head, Adam, sparse cross-entropy, 50 epochs, batch 128."""
    common = {"epochs": epochs, "seed": seed, "batch_size": batch_size, "learning_rate": 1e-3}
    vgg = {"model": "vgg16", "weights": weights, "head": "tutorial", "backbone_input": "raw", **common}
    return [
        (LADDER[0], TrainSettings(model="tutorial_cnn", **common)),
        (LADDER[1], TrainSettings(transfer="train_all", **vgg)),
        (LADDER[2], TrainSettings(transfer="fine_tune", unfreeze=1, **vgg)),
        (LADDER[3], TrainSettings(transfer="fine_tune", unfreeze=1, augment=preset(TUTORIAL_AUGMENT), **vgg)),
    ]


TrainStep = Callable[[str, TrainSettings], Outcome]


def run_study(
    ds: Dataset,
    steps: list[tuple[str, TrainSettings]],
    dataset_label: str,
    store: RunStore,
    on_step=None,
    train_step: TrainStep | None = None,
    **hooks,
) -> list[tuple[str, Outcome | str]]:
    """Train (or load) each step of a study in turn; a step that cannot train gives its
    one-line reason and the others still run. on_step(index, total, name) reports progress.
    `train_step(name, settings)`: how a step trains (the served app: through the training pool,
    like the Train button); default: in this process (the CLI)."""
    results: list[tuple[str, Outcome | str]] = []
    for i, (name, settings) in enumerate(steps):
        if on_step:
            on_step(i, len(steps), name)
        try:
            settings.check()
            if train_step is not None:
                results.append((name, train_step(name, settings)))
            else:
                results.append((name, train_or_load(ds, settings, dataset_label, store, **hooks)))
        except ExplorerError as exc:
            results.append((name, one_line(exc)))
    return results


def beside_tutorial(runs: dict[str, Any]) -> pd.DataFrame:
    """Each study step's test accuracy beside the tutorial's reported number."""
    rows = []
    for name, tutorial in TUTORIAL_ACCURACY.items():
        run = runs.get(name)
        cm = run.test_confusion if run is not None else None
        yours = float(np.trace(cm) / cm.sum()) if cm is not None and cm.sum() else float("nan")
        rows.append({"step": name, "tutorial's test accuracy": tutorial, "yours": yours})
    return pd.DataFrame(rows)


def default_backbone(records: list[RunRecord], ds: Dataset, fallback: str = "mobilenetv2") -> str:
    """The newest run of the current data set that can be a backbone; else a keras.applications one.
    A run of another data set is never the default (its features were learned on other images)."""
    mine = [r for r in records if can_be_backbone(r) and r.dataset.fingerprint == ds.fingerprint]
    return str(BackboneRef.of_run(mine[0].run_id)) if mine else fallback


def _shape_text(shape: tuple[int, ...]) -> str:
    h, w, c = shape
    if c == 1:
        return _("{size} gray").format(size=f"{h}x{w}")
    if c == 3:
        return f"{h}x{w} RGB"
    return _("{size} {c}-channel").format(size=f"{h}x{w}", c=c)


@dataclass(frozen=True)
class BackboneCheck:
    """What the study says about its backbone before it trains: a warning (another data set,
    naming every adaptation) and/or a note (the backbone saw these same training images)."""

    warning: str | None = None
    note: str | None = None


def check_backbone(backbone: str, ds: Dataset, store: RunStore, *, seed: int, validation_split: float) -> BackboneCheck:
    ref = BackboneRef.parse(backbone)
    if ref is None or not ref.is_run:
        return BackboneCheck()
    try:
        record = store.load(ref.name).record
    except StoreError:
        return BackboneCheck()  # training names the problem
    theirs = record.dataset
    if theirs.fingerprint != ds.fingerprint:
        h, w, c = ds.image_shape
        bh, bw, bc = theirs.image_shape
        adapted = []
        if c == 3 and bc == 1:
            adapted.append(_("turned gray"))
        elif c == 1 and bc == 3:
            adapted.append(_("copied to 3 channels"))
        if (h, w) != (bh, bw):
            sizes = {"before": f"{h}x{w}", "after": f"{bh}x{bw}"}
            shrunk = bh * bw < h * w
            adapted.append(
                (_("shrunk from {before} to {after}") if shrunk else _("enlarged from {before} to {after}")).format(
                    **sizes
                )
            )
        values = {
            "run": record.run_id,
            "data": theirs.label,
            "their_shape": _shape_text(theirs.image_shape),
            "k": theirs.num_classes,
            "name": ds.name,
            "shape": _shape_text(ds.image_shape),
        }
        if not adapted:
            warning = _(
                "The backbone run {run} was trained on another data set, {data} ({their_shape}, {k} classes), not on "
                "{name} ({shape}): its features were learned on other images, so feature extraction can score below "
                "the majority baseline. Train a CNN on this data set first and use that run as the backbone."
            ).format(**values)
        else:
            changes = (
                adapted[0]
                if len(adapted) == 1
                else _("{first} and {second}").format(first=adapted[0], second=adapted[1])
            )
            warning = _(
                "The backbone run {run} was trained on another data set, {data} ({their_shape}, {k} classes), not on "
                "{name} ({shape}): this data set's images are {changes} to fit it, and its features were learned on "
                "other images, so feature extraction can score below the majority baseline. Train a CNN on this data "
                "set first and use that run as the backbone."
            ).format(changes=changes, **values)
        return BackboneCheck(warning=warning)
    s = record.settings
    if s.seed == seed and s.validation_split == validation_split:
        note = _(
            "The backbone run {run} was trained on these same training images (same data set, "
            "validation split {split}, seed {seed}); the test images were held out from both."
        ).format(run=record.run_id, split=f"{validation_split:.0%}", seed=seed)
    else:
        note = _(
            "The backbone run {run} was trained on this data set's training split with validation "
            "split {their_split} and seed {their_seed} (this study: {split}, seed {seed}): "
            "some of this study's validation images were its training images; the test images were held out "
            "from both."
        ).format(
            run=record.run_id,
            their_split=f"{s.validation_split:.0%}",
            their_seed=s.seed,
            split=f"{validation_split:.0%}",
            seed=seed,
        )
    return BackboneCheck(note=note)


STUDY_COLUMNS = (
    "step",
    "run",
    "model",
    "accuracy",
    "balanced accuracy",
    "macro F1",
    "majority baseline",
    "training s",
    "epochs",
    "seed",
    "validation split",
    "test images",
)


def study_table(rows: list[tuple[str, StoredRun]]) -> pd.DataFrame:
    """The study's own rows, in ladder order, with the full step names, the test figures, the
    majority baseline, training time, and the split, seed and epochs each row used."""
    if not rows:
        return pd.DataFrame(columns=list(STUDY_COLUMNS))
    table = runs_table([run for _step, run in rows])
    out = pd.DataFrame(
        {
            "step": [name for name, _run in rows],
            "run": table["run"],
            "model": [f"{run.record.model} · {run.record.config.mode_text()}" for _step, run in rows],
            "accuracy": table["accuracy"],
            "balanced accuracy": table["balanced accuracy"],
            "macro F1": table["macro F1"],
            "majority baseline": table["majority baseline"],
            "training s": table["seconds"],
            "epochs": table["epochs"],
            "seed": [run.settings.seed for _step, run in rows],
            "validation split": [run.settings.validation_split for _step, run in rows],
            "test images": [int(run.test_confusion.sum()) for _step, run in rows],
        }
    )
    return out[list(STUDY_COLUMNS)]


def below_baseline(table: pd.DataFrame) -> list[str]:
    """The steps of a study_table whose test accuracy is below the majority baseline: always
    predicting the largest class would have scored better."""
    low = table["accuracy"] < table["majority baseline"]
    return [str(step) for step in table.loc[low, "step"]]


SHARED_COLUMNS = ("epochs", "seed", "validation split", "test images")  # the same for every step of one study


def study_display(table: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The study table as the page shows it, narrow enough for a projector without scrolling: no
    run id column (the step names it), a 'vs majority baseline' column, and the columns every row
    shares returned apart (for one caption). A shared column whose rows differ stays in the table."""
    shared = {c: table[c].iloc[0] for c in SHARED_COLUMNS if len(table) and table[c].nunique() == 1}
    gap = table["accuracy"] - table["majority baseline"]
    shown = table.drop(columns=["run", *shared]).assign(
        **{"vs majority baseline": [f"BELOW by {-g:.1%}" if g < 0 else f"+{g:.1%}" for g in gap]}
    )
    return shown, shared
