"""Headless use: `python -m lib.cli inspect DATASET`.

Exit 0 on success; bad input exits 2 with one line `error: ...` on stderr, no traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from lib import i18n
from lib.data import stats
from lib.data.paths import printable, printable_lines
from lib.data.sources import NAMED, load_dataset, parse_spec
from lib.errors import DatasetError, ExplorerError, StoreError, one_line, os_reason

# A terminal shows a confusion matrix of up to this many classes; beyond, a note says where it is.
PRINTED_MATRIX_MAX_CLASSES = 30


def _english() -> bool:
    return i18n.language() == i18n.DEFAULT


def _note(note: str) -> str:
    """A stored note or status message in the reader's language (a known template, values kept)."""
    from lib.ui.run_notes import shown_note  # pure text, no Streamlit

    return note if _english() else shown_note(note)


def _header(column: object) -> str:
    """A printed table's header in the reader's language; a change in percentage points keeps its unit."""
    from lib.ui.table_labels import label

    text = str(column)
    if text.endswith(" (pp)"):
        return i18n._("{name} (pp)").format(name=label(text[: -len(" (pp)")]))
    return label(text)


def _printed(table: pd.DataFrame, *, index: bool = True, own_rows: Sequence[str] = ()) -> str:
    """`table.to_string()` as the CLI prints it: in English the DataFrame as it is (tests read it); in
    another language the headers (and `own_rows`, our row labels such as "macro avg") translated for
    display only, Hangul counted as two columns wide so the columns line up."""
    if _english():
        return table.to_string(index=index)
    shown = table.rename(columns=_header)
    if own_rows:
        shown = shown.rename(index={row: _header(row) for row in own_rows})
    if shown.index.name is not None:
        shown.index.name = _header(shown.index.name)
    with pd.option_context("display.unicode.east_asian_width", True):
        return shown.to_string(index=index)


def _error_line(message: str) -> str:
    return i18n._("error: {message}").format(message=message)


class _Formatter(argparse.HelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None) -> None:
        super().add_usage(usage, actions, groups, i18n._("usage: ") if prefix is None else prefix)


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's one-line errors, and argparse's own words in help (usage, the section
    titles, -h) in the reader's language: argparse translates them through the process-wide gettext
    domain, which knows nothing of --lang. The English words are argparse's own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        add_help = kwargs.pop("add_help", True)
        super().__init__(*args, add_help=False, **kwargs)
        self._positionals.title = i18n._("positional arguments")  # argparse has no public setter
        self._optionals.title = i18n._("options")
        if add_help:
            self.add_argument(
                "-h", "--help", action="help", default=argparse.SUPPRESS, help=i18n._("show this help message and exit")
            )

    def error(self, message: str) -> None:  # argparse's own usage errors: same one-line contract
        self.exit(2, _error_line(message) + "\n")


def _add_accelerator_options(parser: argparse.ArgumentParser) -> None:
    from lib.train.accelerators import DEVICES, MIXED_POLICIES

    parser.add_argument(
        "--mixed-precision",
        action="store_true",
        help=i18n._(
            "layers compute in 16 bits ({gpu} on a GPU, {cpu} on a CPU), weights and the softmax stay float32; "
            "a different run from the float32 one"
        ).format(gpu=MIXED_POLICIES["gpu"], cpu=MIXED_POLICIES["cpu"]),
    )
    parser.add_argument(
        "--devices",
        default="one",
        choices=list(DEVICES),
        help=i18n._(
            "one: the default device (a GPU when TensorFlow sees one); all: every local GPU with "
            "MirroredStrategy (without GPUs, the logical CPUs EXPLORER_LOGICAL_CPUS made)"
        ),
    )


def _add_ray_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        default=None,
        help=i18n._(
            "train on a Ray cluster: host:port of its head, or 'local' (default: $EXPLORER_RAY_ADDRESS; "
            "unset: in this process)"
        ),
    )


def _ray_pool(args: argparse.Namespace):
    """A one-lane training pool on Ray when --ray or $EXPLORER_RAY_ADDRESS names a cluster, else None."""
    address = args.ray if args.ray is not None else os.environ.get("EXPLORER_RAY_ADDRESS", "").strip()
    if not address:
        return None
    from lib.runs.ray_pool import RayExecutor
    from lib.runs.workers import TrainingPool

    os.environ["EXPLORER_DEVICES"] = args.devices  # the job layer passes it to the node
    return TrainingPool(warm=False, executor=RayExecutor(address, workers=1))


def _pooled(pool, ds, settings, label: str, store, name: str, on_epoch, source: str = ""):
    """Train through `pool`, printing each epoch as it arrives (as train_or_load's on_epoch does)."""
    handle = pool.submit(ds, settings, label, store.root, name, source)
    shown = 0
    while True:
        ended = handle.wait(0.2)
        rows = handle.progress().rows
        while shown < len(rows):
            shown += 1
            on_epoch(rows[shown - 1], None, shown, settings.epochs)
        if ended:
            return handle.outcome()


def build_parser() -> argparse.ArgumentParser:
    from lib.train.settings import INT_RANGES, MAX_LEARNING_RATE

    parser = _Parser(prog="python -m lib.cli", description=i18n._("Keras image classification explorer, headless."))
    parser.add_argument(
        "--lang",
        choices=list(i18n.LANGUAGES),
        default=None,
        help=i18n._("language of the messages (default: from LC_ALL, LC_MESSAGES or LANG)"),
    )
    sub = parser.add_subparsers(dest="command", required=True)
    inspect = sub.add_parser("inspect", help=i18n._("print a dataset's summary and class counts"))
    inspect.add_argument(
        "dataset", help=i18n._("{names}, a folder path or an .npz path").format(names=", ".join(NAMED))
    )

    train = sub.add_parser("train", help=i18n._("train a model (or load the identical run from the store)"))
    train.add_argument("dataset", help=i18n._("as for inspect"))
    train.add_argument(
        "--model",
        default="cnn",
        type=_model_kind,
        help=i18n._("mlp, cnn, deep_cnn, vgg16, mobilenetv2 or run:<run_id> (a stored run as backbone)"),
    )
    train.add_argument("--transfer", default="feature_extraction", choices=["feature_extraction", "fine_tune"])
    train.add_argument(
        "--unfreeze",
        type=_whole(*INT_RANGES["unfreeze"]),
        default=0,
        help=i18n._("fine_tune: the backbone's last N weighted layers train (BatchNormalization stays frozen)"),
    )
    train.add_argument(
        "--weights", default="imagenet", help=i18n._("imagenet, none (random, not pretrained) or a weights file")
    )
    train.add_argument("--epochs", type=_whole(*INT_RANGES["epochs"]), default=5)
    train.add_argument("--batch-size", type=_whole(*INT_RANGES["batch_size"]), default=32)
    train.add_argument("--optimizer", default="adam", choices=["adam", "sgd", "rmsprop"])
    train.add_argument("--learning-rate", type=_number(0, MAX_LEARNING_RATE, low_open=True), default=1e-3)
    train.add_argument(
        "--validation-split",
        type=_number(0, 0.9, low_open=True, high_open=True),
        default=0.2,
    )
    train.add_argument("--seed", type=_whole(*INT_RANGES["seed"]), default=0)
    train.add_argument(
        "--augment", metavar="FILE.json", help=i18n._("ImageDataGenerator settings from the Augmentation page")
    )
    train.add_argument("--store", default=None, help=i18n._("run store folder (default: runs/ or $EXPLORER_RUNS)"))
    train.add_argument("--name", default="", help=i18n._("a name people can say (default: made from the settings)"))
    _add_accelerator_options(train)
    _add_ray_option(train)

    study = sub.add_parser(
        "study",
        help=i18n._(
            "the transfer-learning ladder: own CNN, feature extraction, fine-tuning, fine-tuning + augmentation"
        ),
    )
    study.add_argument("dataset", help=i18n._("as for inspect"))
    study.add_argument(
        "--backbone", default="mobilenetv2", type=_model_kind, help=i18n._("vgg16, mobilenetv2 or run:<run_id>")
    )
    study.add_argument(
        "--weights", default="imagenet", help=i18n._("imagenet, none (random, not pretrained) or a weights file")
    )
    study.add_argument(
        "--epochs",
        type=_whole(*INT_RANGES["epochs"]),
        default=None,
        help=i18n._("each step (default 5; 50 with --follow-tutorial)"),
    )
    study.add_argument("--unfreeze", type=_whole(*INT_RANGES["unfreeze"]), default=4)
    study.add_argument(
        "--follow-tutorial",
        action="store_true",
        help=i18n._(
            "the three-animals tutorial's ladder exactly as written (VGG16, nothing frozen, block5_conv3 only)"
        ),
    )
    study.add_argument("--seed", type=_whole(*INT_RANGES["seed"]), default=0)
    study.add_argument("--store", default=None)
    _add_accelerator_options(study)
    _add_ray_option(study)

    report = sub.add_parser("report", help=i18n._("print a stored run's test report and confusion matrix"))
    report.add_argument("run_id")
    report.add_argument("--store", default=None)
    report.add_argument(
        "--html", metavar="OUT.html", help=i18n._("also write a self-contained HTML report (opens offline)")
    )
    report.add_argument(
        "--data", default=None, help=i18n._("the run's dataset, when it has moved (default: where it was)")
    )

    export = sub.add_parser(
        "export", help=i18n._("export a stored run as a LiteRT .tflite file, checked on the test split")
    )
    export.add_argument("run_id")
    export.add_argument("--format", default="tflite", choices=["tflite"], help=i18n._("tflite (LiteRT)"))
    export.add_argument(
        "--quantize",
        default="none",
        choices=["none", "float16", "dynamic", "int8"],
        help=i18n._(
            "none (float32), float16 weights, dynamic range (int8 weights) or full integer int8 "
            "(calibrated on the run's training images)"
        ),
    )
    export.add_argument(
        "--out", default=None, help=i18n._("folder for the files (default: <store>/.exports/<run_id>/)")
    )
    export.add_argument("--store", default=None)

    predict = sub.add_parser("predict", help=i18n._("classify one image with a stored run (top-k class probabilities)"))
    predict.add_argument("run_id")
    predict.add_argument("image", help=i18n._("an image file (PNG, JPEG, ...)"))
    predict.add_argument(
        "--top", type=_whole(1, 1_000_000), default=3, help=i18n._("how many classes to print (default 3)")
    )
    predict.add_argument("--store", default=None)
    predict.add_argument(
        "--data", default=None, help=i18n._("the run's dataset, when it has moved (default: where it was)")
    )
    return parser


def _whole(low: int, high: int):
    """An argparse type: a whole number in [low, high], refused with the range in the message."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                i18n._("must be a whole number from {low} to {high}, not {text}").format(
                    low=f"{low:,}", high=f"{high:,}", text=repr(text)
                )
            )
        return value

    return parse


def _number(low: float, high: float, *, low_open: bool = False, high_open: bool = False):
    """An argparse type: a finite number in the range, refused with the range in the message."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        if not (math.isfinite(value) and above and below):
            sentence = {  # whole sentences, so that a translation can order them its own way
                (True, True): i18n._("must be a number above {low} and below {high}, not {text}"),
                (True, False): i18n._("must be a number above {low} and at most {high}, not {text}"),
                (False, True): i18n._("must be a number at least {low} and below {high}, not {text}"),
                (False, False): i18n._("must be a number at least {low} and at most {high}, not {text}"),
            }[low_open, high_open]
            raise argparse.ArgumentTypeError(sentence.format(low=f"{low:g}", high=f"{high:g}", text=repr(text)))
        return value

    return parse


def _model_kind(text: str) -> str:
    from lib.train.models import MODEL_KINDS
    from lib.train.transfer import BackboneRef

    if text in MODEL_KINDS or BackboneRef.parse(text) is not None:
        return text
    raise argparse.ArgumentTypeError(i18n._("unknown model '{name}'").format(name=text))


def _store(path: str | None):
    from lib.runs.store import RunStore

    return RunStore(path)


def _print_report(run) -> None:
    from lib.evaluate import metrics
    from lib.evaluate.collapse import check_collapse
    from lib.ui.table_labels import STATUS, label

    _ = i18n._
    r = run.record
    cm = run.test_confusion
    mode = ""
    if r.config.backbone is not None or r.config.is_uploaded:
        if _english():
            mode = f" · {r.config.mode_text()}"
        else:
            from lib.runs.report_html import mode_text  # the same words, in the reader's language

            mode = f" · {mode_text(r.config)}"
    status = _(STATUS[run.status]) if run.status in STATUS else run.status
    print(
        _("run {name} (id {run_id}) · {model}{mode} · {dataset} · status {status} · {epochs} epochs").format(
            name=r.display_name,
            run_id=run.run_id,
            model=r.model,
            mode=mode,
            dataset=r.dataset.label,
            status=status,
            epochs=r.epochs_done,
        )
    )
    for note in r.notes:
        print(_("note: {note}").format(note=_note(note)))
    print()
    report = metrics.report(cm, run.class_names).round(3)
    print(_printed(report, own_rows=list(report.index[len(run.class_names) :])))  # accuracy, macro avg, ...
    s = metrics.summary(cm, r.baseline.class_index) if r.baseline else metrics.summary(cm, None)
    print()
    print("  ".join(f"{label(name)}: {value:.3f}" for name, value in s.items() if value == value))  # NaN: not recorded
    if r.baseline is None:
        print(_("majority baseline: not recorded (this run was stored before runs recorded it)"))
    if run.status == "complete" and not r.config.is_uploaded:
        collapse = check_collapse(cm, r.baseline.accuracy if r.baseline else None, r.settings, run.class_names)
        if collapse is not None:
            print(_("warning: {warning}").format(warning=collapse.sentence()))
    print()
    if len(run.class_names) > PRINTED_MATRIX_MAX_CLASSES:  # K x K cells: 10,000 classes would be 10^8
        print(
            _(
                "confusion matrix not printed: {classes} classes (printed for at most {most}); it follows from "
                "test_predictions.npz (y_true, y_prob) and the app shows it"
            ).format(classes=f"{len(run.class_names):,}", most=PRINTED_MATRIX_MAX_CLASSES)
        )
        return
    print(_("confusion matrix (rows true, columns predicted):"))
    print(pd.DataFrame(cm, index=run.class_names, columns=run.class_names).to_string())


def cmd_train(args: argparse.Namespace) -> None:
    from lib.augment.settings import from_json
    from lib.data.paths import guard
    from lib.runs.train_or_load import train_or_load
    from lib.train.training import TrainSettings

    augment = None
    if args.augment:
        try:
            augment = from_json(guard(args.augment, kind="file").read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            raise DatasetError(
                i18n.N_("cannot read {path}: {reason}"), path=printable(args.augment), reason=os_reason(exc)
            ) from None
        except ExplorerError as exc:
            raise DatasetError(i18n.N_("{path}: {problem}"), path=args.augment, problem=one_line(exc)) from None
    spec = parse_spec(args.dataset)
    ds = load_dataset(spec)
    settings = TrainSettings(
        args.model,
        args.epochs,
        args.batch_size,
        args.optimizer,
        args.learning_rate,
        args.validation_split,
        args.seed,
        augment,
        args.transfer,
        args.unfreeze,
        args.weights,
        mixed_precision=args.mixed_precision,
    ).check()
    store = _store(args.store)

    def progress(row, cm, epoch, epochs):
        line = i18n._(
            "epoch {epoch}/{epochs}  loss {loss}  accuracy {accuracy}  val_loss {val_loss}  val_accuracy {val_accuracy}"
        )
        print(
            line.format(
                epoch=epoch,
                epochs=epochs,
                loss=f"{row['loss']:.4f}",
                accuracy=f"{row['accuracy']:.3f}",
                val_loss=f"{row['val_loss']:.4f}",
                val_accuracy=f"{row['val_accuracy']:.3f}",
            ),
            flush=True,
        )

    pool = _ray_pool(args)
    if pool is None:
        hooks = {"on_epoch": progress, "devices": args.devices}
        outcome = train_or_load(ds, settings, spec.label, store, name=args.name, source=spec.source, **hooks)
    else:
        try:
            outcome = _pooled(pool, ds, settings, spec.label, store, args.name, progress, spec.source)
        finally:
            pool.close()
    if outcome.store_error:  # the results first (training took minutes), then what went wrong
        from lib.runs.config import RunConfig, baseline_of
        from lib.runs.store import StoredRun, record_of

        r = outcome.result
        record = record_of(
            RunConfig.for_training(ds, settings, spec.label, spec.source), r, ds.class_names, baseline_of(ds), args.name
        )
        print(i18n._("run not stored ({reason})").format(reason=_note(r.message)))
        print()
        _print_report(
            StoredRun("unsaved", None, record, r.history, r.val_confusions, r.y_test, r.test_prob, ds.class_names)
        )
        sys.stdout.flush()
        raise StoreError(i18n.N_("the results above were not saved: {problem}"), problem=outcome.store_error)
    run = store.load(outcome.run_id)  # trained elsewhere (Ray), the stored record holds what the result held
    how = i18n._("loaded from the store, not trained again") if outcome.loaded else _note(run.record.message)
    print(i18n._("run id: {run_id} ({how})").format(run_id=outcome.run_id, how=how))
    for note in () if outcome.loaded else run.record.notes:  # e.g. whether backbone features were cached
        print(i18n._("note: {note}").format(note=_note(note)))
    print()
    _print_report(run)
    if not outcome.loaded and run.record.status != "complete":
        from lib.ui.run_notes import deferred_note
        from lib.ui.table_labels import STATUS

        status = run.record.status
        raise ExplorerError(
            i18n.N_("run {run_id} {status}: {message}"),
            run_id=outcome.run_id,
            status=i18n.Deferred(STATUS[status]) if status in STATUS else status,
            message=deferred_note(run.record.message),
        )


def cmd_study(args: argparse.Namespace) -> None:
    from lib.runs.study import (
        DIFFERENCES,
        beside_tutorial,
        check_backbone,
        ladder,
        run_study,
        study_table,
        tutorial_ladder,
    )
    from lib.train.transfer import BackboneRef

    spec = parse_spec(args.dataset)
    ds = load_dataset(spec)
    store = _store(args.store)
    started = time.perf_counter()
    if args.follow_tutorial:
        args.backbone = "vgg16"
        steps = tutorial_ladder(args.weights, 50 if args.epochs is None else args.epochs, args.seed)
    else:
        steps = ladder(args.backbone, args.weights, 5 if args.epochs is None else args.epochs, args.seed, args.unfreeze)
    if args.mixed_precision:
        steps = [(name, dataclasses.replace(settings, mixed_precision=True)) for name, settings in steps]
    epochs = steps[0][1].epochs
    split = steps[0][1].validation_split
    ref = BackboneRef.parse(args.backbone)
    _ = i18n._
    if ref is not None and not ref.is_run and args.weights in ("none", ""):
        print(_("backbone {backbone}: random weights, NOT pretrained").format(backbone=args.backbone))
    check = check_backbone(args.backbone, ds, store, seed=args.seed, validation_split=split)
    if check.warning:
        print(_("warning: {warning}").format(warning=check.warning))
    print(
        _(
            "study on {dataset}: validation split {split} of the training split, seed {seed}, {epochs} epochs each, "
            "test set {images} images"
        ).format(dataset=spec.label, split=f"{split:.0%}", seed=args.seed, epochs=epochs, images=len(ds.y_test))
    )
    pool = _ray_pool(args)
    train_step = None
    if pool is not None:

        def train_step(name, settings):
            return _pooled(pool, ds, settings, spec.label, store, "", lambda *a: None, spec.source)

    try:
        results = run_study(
            ds,
            steps,
            spec.label,
            store,
            on_step=lambda i, n, name: print(f"[{i + 1}/{n}] {_step_name(name)}", flush=True),
            train_step=train_step,
            devices=args.devices,
            source=spec.source,
        )
    finally:
        if pool is not None:
            pool.close()
    rows, failures = [], []
    for name, outcome in results:
        if isinstance(outcome, str) or outcome.run_id is None:
            problem = outcome if isinstance(outcome, str) else outcome.store_error
            failures.append(i18n.Deferred(i18n.N_("{step}: {problem}"), step=i18n.Deferred(name), problem=problem))
        else:
            rows.append((name, store.load(outcome.run_id)))
    print()
    if rows:
        with pd.option_context("display.width", 250, "display.max_columns", None):
            table = study_table(rows).round(3)
            if not _english():  # the step names are catalogue entries (LADDER), the run names are names
                from lib.runs.report_html import mode_text

                table["step"] = [_step_name(step) for step in table["step"]]
                table["model"] = [f"{run.record.model} · {mode_text(run.record.config)}" for _step, run in rows]
            print(_printed(table, index=False))
        if args.follow_tutorial:
            print()
            beside = beside_tutorial(dict(rows)).round(3)
            if not _english():
                beside["step"] = [_step_name(step) for step in beside["step"]]
            print(_printed(beside, index=False))
            print()
            print(_("what our default ladder does differently:"))
            for line in DIFFERENCES:
                print(f"- {_(line)}")
    if check.note:
        print(_("note: {note}").format(note=check.note))
    if check.warning:
        print(_("warning: {warning}").format(warning=check.warning))
    print()
    print(_("study took {seconds} s").format(seconds=f"{time.perf_counter() - started:.1f}"))
    for line in failures:
        print(_("not run: {problem}").format(problem=i18n.shown(line)))
    if failures and not rows:
        raise ExplorerError(failures[0])


def _step_name(name: str) -> str:
    """A study step's name as shown ("own CNN", "fine-tuning (last 4)"): the ladder's names translated."""
    return i18n._(name) if name else name  # a LADDER entry (N_) is in the catalogue; anything else stays


def _run_dataset(run, needed: bool, given: str | None = None):
    """The run's dataset, loaded again, when `needed`: from `given` (--data), else from where
    the run recorded it came from (a resolved path, so any working folder works), else, for
    runs stored before that was recorded, from its label. It must be the same data
    (fingerprint) the run was trained on. None when not needed."""
    from lib.data.sources import DatasetSpec, spec_from_source

    if not needed:
        return None
    ref = run.record.dataset
    if given:
        spec = parse_spec(given)
    else:
        spec = spec_from_source(ref.source) if ref.source else None
        if spec is None and ref.label.startswith("folder "):
            spec = DatasetSpec("folder", ref.label[len("folder ") :])
        elif spec is None and ref.label in NAMED:
            spec = DatasetSpec(ref.label)
        if spec is None:
            raise DatasetError(
                i18n.N_(
                    "run {run_id} does not record where its data ({dataset}) can be loaded from: give it with {option}"
                ),
                run_id=run.run_id,
                dataset=ref.label,
                option="--data PATH",
            )
    try:
        ds = load_dataset(spec)
    except DatasetError as exc:
        raise DatasetError(
            i18n.N_(
                "the data run {run_id} was trained on cannot be loaded from {place} (moved or deleted?): {problem}; "
                "give it with {option}"
            ),
            run_id=run.run_id,
            place=spec.path or spec.kind,
            problem=one_line(exc),
            option="--data PATH",
        ) from None
    if ds.fingerprint != ref.fingerprint:
        raise DatasetError(
            i18n.N_(
                "the data at {place} has changed since run {run_id} was trained on it "
                "(fingerprint {then} then, {now} now)"
            ),
            place=spec.path or spec.kind,
            run_id=run.run_id,
            then=ref.fingerprint[:12],
            now=ds.fingerprint[:12],
        )
    return ds


def cmd_report(args: argparse.Namespace) -> None:
    run = _store(args.store).load(args.run_id)
    _print_report(run)
    _print_exports(run)
    if args.html:
        from lib.runs.report_html import build_report

        try:
            ds = _run_dataset(run, True, args.data)
        except DatasetError as exc:
            ds = None
            print(i18n._("note: mistakes are shown without images ({problem})").format(problem=one_line(exc, 1000)))
        try:
            Path(args.html).write_text(build_report(run, ds.x_test if ds else None), encoding="utf-8")
        except OSError as exc:
            raise StoreError(
                i18n.N_("cannot write {path}: {reason}"), path=printable(args.html), reason=os_reason(exc)
            ) from None
        print()
        print(i18n._("HTML report written to {path}").format(path=args.html))


def cmd_export(args: argparse.Namespace) -> None:
    from lib.runs import export

    run = _store(args.store).load(args.run_id)
    ds = _run_dataset(run, True)
    done = export.export_run(run, ds, args.quantize, Path(args.out) if args.out else None)
    _ = i18n._
    print(
        _("run {name} (id {run_id}) · {title} · {runtime}").format(
            name=run.record.display_name, run_id=run.run_id, title=done.title, runtime=done.runtime
        )
    )
    print(
        _("written {file} ({size} bytes); it takes uint8 images 0..255, like the whole model.keras").format(
            file=done.tflite, size=f"{done.bytes:,}"
        )
    )
    if done.representative:
        print(
            _("int8 calibrated on {n} of the run's training images (never the test split)").format(
                n=done.representative
            )
        )
    print()
    print(_printed(export.as_text(export.comparison_table(run, [done])), index=False))
    table = export.per_class_table(run, done)
    print()
    print(_printed(export.as_text(table), index=False))
    print()
    print(export.lesson(table, done))


def _print_exports(run) -> None:
    """The export table, when the run has exports (lib.runs.export)."""
    from lib.runs import export

    found = export.list_exports(run)
    if found:
        print()
        print(i18n._("exports (LiteRT, run back on the test split):"))
        print(_printed(export.as_text(export.comparison_table(run, found)), index=False))


def cmd_predict(args: argparse.Namespace) -> None:
    from lib.augment.settings import needs_fit, training_config
    from lib.data import decode
    from lib.data.paths import guard
    from lib.errors import ImageError
    from lib.evaluate import try_image

    try:
        path = guard(args.image, kind="file")
    except DatasetError as exc:
        raise ImageError(i18n.N_("cannot read the image: {problem}"), problem=one_line(exc)) from None
    run = _store(args.store).load(args.run_id)
    try:  # the one picture gate: promised formats only, pixel budget from the header
        picture = decode.open_image(path, max_pixels=try_image.MAX_PIXELS)
    except ExplorerError as exc:
        raise ImageError(i18n.N_("{path}: {problem}"), path=args.image, problem=one_line(exc)) from None
    uploaded = run.record.config.is_uploaded
    ds = _run_dataset(run, not uploaded and needs_fit(training_config(run.settings.augment)[0]), args.data)
    shape = tuple(run.record.dataset.image_shape)
    steps = try_image.to_dataset_image(picture, shape)
    prob = try_image.predict_image(run.load_model(), try_image.evaluation_preprocessor(run, ds), steps[-1].image)
    table = try_image.probabilities_table(prob, run.class_names).head(args.top)
    print(
        i18n._("run {name} (id {run_id}) · {model} · {file}").format(
            name=run.record.display_name, run_id=run.run_id, model=run.record.model, file=Path(args.image).name
        )
    )
    for _, row in table.iterrows():
        print(f"{row['rank']:>3}. {row['class']}  {row['probability']:.4f}")


def cmd_inspect(args: argparse.Namespace) -> None:
    ds = load_dataset(parse_spec(args.dataset))
    from lib.ui.table_labels import label

    summary = stats.summary(ds)
    if _english():
        for key, value in summary.items():
            print(f"{key:>12}: {value}")
        for note in ds.notes:
            print(f"{'note':>12}: {note}")
    else:  # labels translated; right-aligned by their width on a terminal (a Hangul letter is two columns)
        shown = {label(key): value for key, value in summary.items()}
        shown_notes = [i18n.shown(note) for note in ds.notes]
        keys = [*shown, *([i18n._("note")] if ds.notes else [])]
        width = max(_columns(k) for k in keys)
        for key, value in shown.items():
            print(f"{' ' * (width - _columns(key))}{key}: {value}")
        for note in shown_notes:
            key = i18n._("note")
            print(f"{' ' * (width - _columns(key))}{key}: {note}")
    print()
    print(_printed(stats.class_counts(ds), index=False))
    print()
    baseline = stats.majority_baseline(ds)
    print(baseline.sentence())
    if baseline.unbalanced:
        print(
            i18n._("warning: classes are unbalanced ({ratio}x); accuracy alone misleads").format(
                ratio=f"{baseline.imbalance_ratio:.1f}"
            )
        )
    dupes = stats.duplicates_across_splits(ds)
    print(i18n._("leakage: {count} test image(s) are exact copies of training images").format(count=len(dupes)))


def _columns(text: str) -> int:
    """Terminal columns `text` takes: a wide (East Asian) character takes two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


COMMANDS = {
    "inspect": cmd_inspect,
    "train": cmd_train,
    "study": cmd_study,
    "report": cmd_report,
    "predict": cmd_predict,
    "export": cmd_export,
}


class _PrintableStream(io.TextIOBase):
    """stdout/stderr as the CLI writes them: every text goes through the one printable-text
    function (lib.data.paths.printable, line by line), so a class, file or run name carrying
    ESC sequences or other controls is printed as visible escapes, never acted on by the
    terminal. The CLI's own output uses no control character but the line break."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(printable_lines(text))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()


def main(argv: Sequence[str] | None = None) -> int:
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _PrintableStream(out), _PrintableStream(err)
    try:
        return _main(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = out, err


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # The language first (--lang anywhere on the line, else LC_ALL/LC_MESSAGES/LANG), so that
    # --help and argparse's own errors are in it too.
    lang, argv = _lang_option(argv)
    i18n.set_language(lang or i18n.from_environment())
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except ExplorerError as exc:
        print(_error_line(one_line(exc, 1000)), file=sys.stderr)
        return 2
    except (OSError, MemoryError) as exc:
        print(_error_line(one_line(exc, with_type=True)), file=sys.stderr)
        return 2
    return 0


def _lang_option(argv: list[str]) -> tuple[str | None, list[str]]:
    """(the --lang value, the other arguments): --lang may come before or after the command."""
    rest: list[str] = []
    lang = None
    items = iter(argv)
    for arg in items:
        if arg.startswith("--lang="):
            lang = arg.split("=", 1)[1]
        elif arg == "--lang":
            lang = next(items, "")
        else:
            rest.append(arg)
    if lang is not None and lang not in i18n.LANGUAGES:
        rest = ["--lang", lang, *rest]  # argparse names the choices in its one-line error
    return lang, rest


if __name__ == "__main__":
    sys.exit(main())
