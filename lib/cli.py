"""Headless use: `python -m lib.cli inspect DATASET`.

Exit 0 on success; bad input exits 2 with one line `error: ...` on stderr, no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lib import stats
from lib.data import BUILTIN, KERAS_DATASETS, load_dataset, parse_spec
from lib.dataset import DatasetError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own usage errors: same one-line contract
        self.exit(2, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m lib.cli", description="Keras image classification explorer, headless.")
    sub = parser.add_subparsers(dest="command", required=True)
    inspect = sub.add_parser("inspect", help="print a dataset's summary and class counts")
    inspect.add_argument(
        "dataset", help=f"{', '.join(BUILTIN + KERAS_DATASETS)}, a folder path or an .npz path"
    )
    return parser


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


COMMANDS = {"inspect": cmd_inspect}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, MemoryError) as exc:
        print(f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
