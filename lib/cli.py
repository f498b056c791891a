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


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own usage errors: same one-line contract
        self.exit(2, f"error: {message}\n")


def _add_accelerator_options(parser: argparse.ArgumentParser) -> None:
    from lib.train.accelerators import DEVICES, MIXED_POLICIES

    parser.add_argument(
        "--mixed-precision",
        action="store_true",
        help=f"layers compute in 16 bits ({MIXED_POLICIES['gpu']} on a GPU, {MIXED_POLICIES['cpu']} on a CPU), "
        "weights and the softmax stay float32; a different run from the float32 one",
    )
    parser.add_argument(
        "--devices",
        default="one",
        choices=list(DEVICES),
        help="one: the default device (a GPU when TensorFlow sees one); all: every local GPU with "
        "MirroredStrategy (without GPUs, the logical CPUs EXPLORER_LOGICAL_CPUS made)",
    )


def _add_ray_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        default=None,
        help="train on a Ray cluster: host:port of its head, or 'local' (default: $EXPLORER_RAY_ADDRESS; "
        "unset: in this process)",
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
    inspect.add_argument("dataset", help=f"{', '.join(NAMED)}, a folder path or an .npz path")

    train = sub.add_parser("train", help=i18n._("train a model (or load the identical run from the store)"))
    train.add_argument("dataset", help="as for inspect")
    train.add_argument(
        "--model",
        default="cnn",
        type=_model_kind,
        help="mlp, cnn, deep_cnn, vgg16, mobilenetv2 or run:<run_id> (a stored run as backbone)",
    )
    train.add_argument("--transfer", default="feature_extraction", choices=["feature_extraction", "fine_tune"])
    train.add_argument(
        "--unfreeze",
        type=_whole(*INT_RANGES["unfreeze"]),
        default=0,
        help="fine_tune: the backbone's last N weighted layers train (BatchNormalization stays frozen)",
    )
    train.add_argument(
        "--weights", default="imagenet", help="imagenet, none (random, not pretrained) or a weights file"
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
    train.add_argument("--augment", metavar="FILE.json", help="ImageDataGenerator settings from the Augmentation page")
    train.add_argument("--store", default=None, help="run store folder (default: runs/ or $EXPLORER_RUNS)")
    train.add_argument("--name", default="", help="a name people can say (default: made from the settings)")
    _add_accelerator_options(train)
    _add_ray_option(train)

    study = sub.add_parser(
        "study",
        help=i18n._(
            "the transfer-learning ladder: own CNN, feature extraction, fine-tuning, fine-tuning + augmentation"
        ),
    )
    study.add_argument("dataset", help="as for inspect")
    study.add_argument("--backbone", default="mobilenetv2", type=_model_kind, help="vgg16, mobilenetv2 or run:<run_id>")
    study.add_argument(
        "--weights", default="imagenet", help="imagenet, none (random, not pretrained) or a weights file"
    )
    study.add_argument(
        "--epochs",
        type=_whole(*INT_RANGES["epochs"]),
        default=None,
        help="each step (default 5; 50 with --follow-tutorial)",
    )
    study.add_argument("--unfreeze", type=_whole(*INT_RANGES["unfreeze"]), default=4)
    study.add_argument(
        "--follow-tutorial",
        action="store_true",
        help="the three-animals tutorial's ladder exactly as written (VGG16, nothing frozen, block5_conv3 only)",
    )
    study.add_argument("--seed", type=_whole(*INT_RANGES["seed"]), default=0)
    study.add_argument("--store", default=None)
    _add_accelerator_options(study)
    _add_ray_option(study)

    report = sub.add_parser("report", help=i18n._("print a stored run's test report and confusion matrix"))
    report.add_argument("run_id")
    report.add_argument("--store", default=None)
    report.add_argument("--html", metavar="OUT.html", help="also write a self-contained HTML report (opens offline)")
    report.add_argument("--data", default=None, help="the run's dataset, when it has moved (default: where it was)")

    export = sub.add_parser("export", help="export a stored run as a LiteRT .tflite file, checked on the test split")
    export.add_argument("run_id")
    export.add_argument("--format", default="tflite", choices=["tflite"], help="tflite (LiteRT)")
    export.add_argument(
        "--quantize",
        default="none",
        choices=["none", "float16", "dynamic", "int8"],
        help="none (float32), float16 weights, dynamic range (int8 weights) or full integer int8 "
        "(calibrated on the run's training images)",
    )
    export.add_argument("--out", default=None, help="folder for the files (default: <store>/.exports/<run_id>/)")
    export.add_argument("--store", default=None)

    predict = sub.add_parser("predict", help=i18n._("classify one image with a stored run (top-k class probabilities)"))
    predict.add_argument("run_id")
    predict.add_argument("image", help="an image file (PNG, JPEG, ...)")
    predict.add_argument("--top", type=_whole(1, 1_000_000), default=3, help="how many classes to print (default 3)")
    predict.add_argument("--store", default=None)
    predict.add_argument("--data", default=None, help="the run's dataset, when it has moved (default: where it was)")
    return parser


def _whole(low: int, high: int):
    """An argparse type: a whole number in [low, high], refused with the range in the message."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low:,} to {high:,}, not {text!r}")
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
            lower = f"above {low:g}" if low_open else f"at least {low:g}"
            upper = f"below {high:g}" if high_open else f"at most {high:g}"
            raise argparse.ArgumentTypeError(f"must be a number {lower} and {upper}, not {text!r}")
        return value

    return parse


def _model_kind(text: str) -> str:
    from lib.train.models import MODEL_KINDS
    from lib.train.transfer import BackboneRef

    if text in MODEL_KINDS or BackboneRef.parse(text) is not None:
        return text
    raise argparse.ArgumentTypeError(f"unknown model '{text}'")


def _store(path: str | None):
    from lib.runs.store import RunStore

    return RunStore(path)


def _print_report(run) -> None:
    from lib.evaluate import metrics
    from lib.evaluate.collapse import check_collapse

    r = run.record
    cm = run.test_confusion
    mode = f" · {r.config.mode_text()}" if r.config.backbone is not None or r.config.is_uploaded else ""
    print(
        f"run {r.display_name} (id {run.run_id}) · {r.model}{mode} · {r.dataset.label} · status {run.status} · "
        f"{r.epochs_done} epochs"
    )
    for note in r.notes:
        print(f"note: {note}")
    print()
    print(metrics.report(cm, run.class_names).round(3).to_string())
    s = metrics.summary(cm, r.baseline.class_index) if r.baseline else metrics.summary(cm, None)
    print()
    print("  ".join(f"{name}: {value:.3f}" for name, value in s.items() if value == value))  # NaN: not recorded
    if r.baseline is None:
        print("majority baseline: not recorded (this run was stored before runs recorded it)")
    if run.status == "complete" and not r.config.is_uploaded:
        collapse = check_collapse(cm, r.baseline.accuracy if r.baseline else None, r.settings, run.class_names)
        if collapse is not None:
            print(f"warning: {collapse.sentence()}")
    print()
    if len(run.class_names) > PRINTED_MATRIX_MAX_CLASSES:  # K x K cells: 10,000 classes would be 10^8
        print(
            f"confusion matrix not printed: {len(run.class_names):,} classes (printed for at most "
            f"{PRINTED_MATRIX_MAX_CLASSES}); it follows from test_predictions.npz (y_true, y_prob) and the app shows it"
        )
        return
    print("confusion matrix (rows true, columns predicted):")
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
            raise DatasetError(f"cannot read {printable(args.augment)}: {os_reason(exc)}") from None
        except ExplorerError as exc:
            raise DatasetError(f"{args.augment}: {one_line(exc)}") from None
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
        print(
            f"epoch {epoch}/{epochs}  loss {row['loss']:.4f}  accuracy {row['accuracy']:.3f}  "
            f"val_loss {row['val_loss']:.4f}  val_accuracy {row['val_accuracy']:.3f}",
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
        print(f"run not stored ({r.message})")
        print()
        _print_report(
            StoredRun("unsaved", None, record, r.history, r.val_confusions, r.y_test, r.test_prob, ds.class_names)
        )
        sys.stdout.flush()
        raise StoreError(f"the results above were not saved: {outcome.store_error}")
    run = store.load(outcome.run_id)  # trained elsewhere (Ray), the stored record holds what the result held
    how = "loaded from the store, not trained again" if outcome.loaded else run.record.message
    print(f"run id: {outcome.run_id} ({how})")
    for note in () if outcome.loaded else run.record.notes:  # e.g. whether backbone features were cached
        print(f"note: {note}")
    print()
    _print_report(run)
    if not outcome.loaded and run.record.status != "complete":
        raise ExplorerError(f"run {outcome.run_id} {run.record.status}: {run.record.message}")


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
    if ref is not None and not ref.is_run and args.weights in ("none", ""):
        print(f"backbone {args.backbone}: random weights, NOT pretrained")
    check = check_backbone(args.backbone, ds, store, seed=args.seed, validation_split=split)
    if check.warning:
        print(f"warning: {check.warning}")
    print(f"study on {spec.label}: validation split {split:.0%} of the training split, seed {args.seed}, "
          f"{epochs} epochs each, test set {len(ds.y_test)} images")  # fmt: skip
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
            on_step=lambda i, n, name: print(f"[{i + 1}/{n}] {name}", flush=True),
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
            failures.append(f"{name}: {outcome if isinstance(outcome, str) else outcome.store_error}")
        else:
            rows.append((name, store.load(outcome.run_id)))
    print()
    if rows:
        with pd.option_context("display.width", 250, "display.max_columns", None):
            print(study_table(rows).round(3).to_string(index=False))
        if args.follow_tutorial:
            print()
            print(beside_tutorial(dict(rows)).round(3).to_string(index=False))
            print("\nwhat our default ladder does differently:")
            for line in DIFFERENCES:
                print(f"- {line}")
    if check.note:
        print(f"note: {check.note}")
    if check.warning:
        print(f"warning: {check.warning}")
    print(f"\nstudy took {time.perf_counter() - started:.1f} s")
    for line in failures:
        print(f"not run: {line}")
    if failures and not rows:
        raise ExplorerError(failures[0])


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
                f"run {run.run_id} does not record where its data ({ref.label}) can be loaded from: "
                "give it with --data PATH"
            )
    try:
        ds = load_dataset(spec)
    except DatasetError as exc:
        raise DatasetError(
            f"the data run {run.run_id} was trained on cannot be loaded from {spec.path or spec.kind} "
            f"(moved or deleted?): {one_line(exc)}; give it with --data PATH"
        ) from None
    if ds.fingerprint != ref.fingerprint:
        raise DatasetError(
            f"the data at {spec.path or spec.kind} has changed since run {run.run_id} was trained on it "
            f"(fingerprint {ref.fingerprint[:12]} then, {ds.fingerprint[:12]} now)"
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
            print(f"note: mistakes are shown without images ({exc})")
        try:
            Path(args.html).write_text(build_report(run, ds.x_test if ds else None), encoding="utf-8")
        except OSError as exc:
            raise StoreError(f"cannot write {printable(args.html)}: {os_reason(exc)}") from None
        print(f"\nHTML report written to {args.html}")


def cmd_export(args: argparse.Namespace) -> None:
    from lib.runs import export

    run = _store(args.store).load(args.run_id)
    ds = _run_dataset(run, True)
    done = export.export_run(run, ds, args.quantize, Path(args.out) if args.out else None)
    print(f"run {run.record.display_name} (id {run.run_id}) · {done.title} · {done.runtime}")
    print(f"written {done.tflite} ({done.bytes:,} bytes); it takes uint8 images 0..255, like the whole model.keras")
    if done.representative:
        print(f"int8 calibrated on {done.representative} of the run's training images (never the test split)")
    print()
    print(export.as_text(export.comparison_table(run, [done])).to_string(index=False))
    table = export.per_class_table(run, done)
    print()
    print(export.as_text(table).to_string(index=False))
    print()
    print(export.lesson(table, done))


def _print_exports(run) -> None:
    """The export table, when the run has exports (lib.runs.export)."""
    from lib.runs import export

    found = export.list_exports(run)
    if found:
        print()
        print("exports (LiteRT, run back on the test split):")
        print(export.as_text(export.comparison_table(run, found)).to_string(index=False))


def cmd_predict(args: argparse.Namespace) -> None:
    from lib.augment.settings import needs_fit, training_config
    from lib.data import decode
    from lib.data.paths import guard
    from lib.errors import ImageError
    from lib.evaluate import try_image

    try:
        path = guard(args.image, kind="file")
    except DatasetError as exc:
        raise ImageError(f"cannot read the image: {one_line(exc)}") from None
    run = _store(args.store).load(args.run_id)
    try:  # the one picture gate: promised formats only, pixel budget from the header
        picture = decode.open_image(path, max_pixels=try_image.MAX_PIXELS)
    except ExplorerError as exc:
        raise ImageError(f"{args.image}: {one_line(exc)}") from None
    uploaded = run.record.config.is_uploaded
    ds = _run_dataset(run, not uploaded and needs_fit(training_config(run.settings.augment)[0]), args.data)
    shape = tuple(run.record.dataset.image_shape)
    steps = try_image.to_dataset_image(picture, shape)
    prob = try_image.predict_image(run.load_model(), try_image.evaluation_preprocessor(run, ds), steps[-1].image)
    table = try_image.probabilities_table(prob, run.class_names).head(args.top)
    print(f"run {run.record.display_name} (id {run.run_id}) · {run.record.model} · {Path(args.image).name}")
    for _, row in table.iterrows():
        print(f"{row['rank']:>3}. {row['class']}  {row['probability']:.4f}")


def cmd_inspect(args: argparse.Namespace) -> None:
    ds = load_dataset(parse_spec(args.dataset))
    for key, value in stats.summary(ds).items():
        print(f"{key:>12}: {value}")
    for note in ds.notes:
        print(f"{'note':>12}: {note}")
    print()
    print(stats.class_counts(ds).to_string(index=False))
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
        print(f"error: {one_line(exc, 1000)}", file=sys.stderr)
        return 2
    except (OSError, MemoryError) as exc:
        print(f"error: {one_line(exc, with_type=True)}", file=sys.stderr)
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
