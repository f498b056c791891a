"""Headless use: `python -m lib.cli inspect DATASET`.

Exit 0 on success; bad input exits 2 with one line `error: ...` on stderr, no traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from lib.data import stats
from lib.data.sources import NAMED, load_dataset, parse_spec
from lib.errors import DatasetError, ExplorerError, StoreError, one_line


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


def _pooled(pool, ds, settings, label: str, store, name: str, on_epoch):
    """Train through `pool`, printing each epoch as it arrives (as train_or_load's on_epoch does)."""
    handle = pool.submit(ds, settings, label, store.root, name)
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
    parser = _Parser(prog="python -m lib.cli", description="Keras image classification explorer, headless.")
    sub = parser.add_subparsers(dest="command", required=True)
    inspect = sub.add_parser("inspect", help="print a dataset's summary and class counts")
    inspect.add_argument("dataset", help=f"{', '.join(NAMED)}, a folder path or an .npz path")

    train = sub.add_parser("train", help="train a model (or load the identical run from the store)")
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
        type=int,
        default=0,
        help="fine_tune: the backbone's last N weighted layers train (BatchNormalization stays frozen)",
    )
    train.add_argument(
        "--weights", default="imagenet", help="imagenet, none (random, not pretrained) or a weights file"
    )
    train.add_argument("--epochs", type=int, default=5)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--optimizer", default="adam", choices=["adam", "sgd", "rmsprop"])
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--validation-split", type=float, default=0.2)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--augment", metavar="FILE.json", help="ImageDataGenerator settings from the Augmentation page")
    train.add_argument("--store", default=None, help="run store folder (default: runs/ or $EXPLORER_RUNS)")
    train.add_argument("--name", default="", help="a name people can say (default: made from the settings)")
    _add_accelerator_options(train)
    _add_ray_option(train)

    study = sub.add_parser(
        "study",
        help="the transfer-learning ladder: own CNN, feature extraction, fine-tuning, fine-tuning + augmentation",
    )
    study.add_argument("dataset", help="as for inspect")
    study.add_argument("--backbone", default="mobilenetv2", type=_model_kind, help="vgg16, mobilenetv2 or run:<run_id>")
    study.add_argument(
        "--weights", default="imagenet", help="imagenet, none (random, not pretrained) or a weights file"
    )
    study.add_argument("--epochs", type=int, default=None, help="each step (default 5; 50 with --follow-tutorial)")
    study.add_argument("--unfreeze", type=int, default=4)
    study.add_argument(
        "--follow-tutorial",
        action="store_true",
        help="the three-animals tutorial's ladder exactly as written (VGG16, nothing frozen, block5_conv3 only)",
    )
    study.add_argument("--seed", type=int, default=0)
    study.add_argument("--store", default=None)
    _add_accelerator_options(study)
    _add_ray_option(study)

    report = sub.add_parser("report", help="print a stored run's test report and confusion matrix")
    report.add_argument("run_id")
    report.add_argument("--store", default=None)
    report.add_argument("--html", metavar="OUT.html", help="also write a self-contained HTML report (opens offline)")

    predict = sub.add_parser("predict", help="classify one image with a stored run (top-k class probabilities)")
    predict.add_argument("run_id")
    predict.add_argument("image", help="an image file (PNG, JPEG, ...)")
    predict.add_argument("--top", type=int, default=3, help="how many classes to print (default 3)")
    predict.add_argument("--store", default=None)
    return parser


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
            raise DatasetError(f"cannot read {args.augment}: {exc.strerror}") from None
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
        outcome = train_or_load(ds, settings, spec.label, store, name=args.name, **hooks)
    else:
        try:
            outcome = _pooled(pool, ds, settings, spec.label, store, args.name, progress)
        finally:
            pool.close()
    if outcome.store_error:  # the results first (training took minutes), then what went wrong
        from lib.runs.config import RunConfig, baseline_of
        from lib.runs.store import StoredRun, record_of

        r = outcome.result
        record = record_of(
            RunConfig.for_training(ds, settings, spec.label), r, ds.class_names, baseline_of(ds), args.name
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
        steps = tutorial_ladder(args.weights, args.epochs or 50, args.seed)
    else:
        steps = ladder(args.backbone, args.weights, args.epochs or 5, args.seed, args.unfreeze)
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
            return _pooled(pool, ds, settings, spec.label, store, "", lambda *a: None)

    try:
        results = run_study(
            ds,
            steps,
            spec.label,
            store,
            on_step=lambda i, n, name: print(f"[{i + 1}/{n}] {name}", flush=True),
            train_step=train_step,
            devices=args.devices,
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


def _run_dataset(run, needed: bool):
    """The run's dataset, loaded again from its label, when `needed`; it must be the same data
    (fingerprint) the run was trained on. None when not needed."""
    if not needed:
        return None
    ref = run.record.dataset
    ds = load_dataset(parse_spec(ref.label))
    if ds.fingerprint != ref.fingerprint:
        raise DatasetError(f"{ref.label} has changed since run {run.run_id} was trained")
    return ds


def cmd_report(args: argparse.Namespace) -> None:
    run = _store(args.store).load(args.run_id)
    _print_report(run)
    if args.html:
        from lib.runs.report_html import build_report

        try:
            ds = _run_dataset(run, True)
        except DatasetError as exc:
            ds = None
            print(f"note: mistakes are shown without images ({exc})")
        try:
            Path(args.html).write_text(build_report(run, ds.x_test if ds else None), encoding="utf-8")
        except OSError as exc:
            raise StoreError(f"cannot write {args.html}: {exc.strerror or exc}") from None
        print(f"\nHTML report written to {args.html}")


def cmd_predict(args: argparse.Namespace) -> None:
    from lib.augment.settings import needs_fit, training_config
    from lib.errors import ImageError
    from lib.evaluate import try_image

    if args.top < 1:
        raise ImageError("--top must be at least 1")
    try:
        data = Path(args.image).read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {args.image}: {exc.strerror or exc}") from None
    run = _store(args.store).load(args.run_id)
    uploaded = run.record.config.is_uploaded
    ds = _run_dataset(run, not uploaded and needs_fit(training_config(run.settings.augment)[0]))
    shape = tuple(run.record.dataset.image_shape)
    try:
        steps = try_image.to_dataset_image(data, shape)
    except ImageError as exc:
        raise ImageError(f"{args.image}: {exc}") from None
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
        print(f"warning: classes are unbalanced ({baseline.imbalance_ratio:.1f}x); accuracy alone misleads")
    dupes = stats.duplicates_across_splits(ds)
    print(f"leakage: {len(dupes)} test image(s) are exact copies of training images")


COMMANDS = {
    "inspect": cmd_inspect,
    "train": cmd_train,
    "study": cmd_study,
    "report": cmd_report,
    "predict": cmd_predict,
}


def main(argv: Sequence[str] | None = None) -> int:
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


if __name__ == "__main__":
    sys.exit(main())
