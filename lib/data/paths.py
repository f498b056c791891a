"""Confine user-typed paths to a data root when the app is served to others.

Set EXPLORER_DATA_ROOT (`make run HOST=0.0.0.0` sets it to sample_data/ unless DATA_ROOT
says otherwise): folder and .npz paths typed in the app must then resolve inside it. A path
outside it, `..`, or a symlink that leads out of it is refused. Unset: any path (a learner
on their own laptop)."""

from __future__ import annotations

import os
from pathlib import Path

from lib.data.dataset import DatasetError


def data_root() -> Path | None:
    root = os.environ.get("EXPLORER_DATA_ROOT", "").strip()
    return Path(root).expanduser().resolve() if root else None


def confined(path: str | Path) -> Path:
    """The resolved path, or DatasetError when a data root is set and the path leaves it."""
    root = data_root()
    resolved = Path(path).expanduser()
    if root is None:
        return resolved
    if not resolved.is_absolute():
        resolved = root / resolved  # relative paths are relative to the data root
    resolved = resolved.resolve()  # follows symlinks and '..'
    if resolved != root and root not in resolved.parents:
        raise DatasetError(f"{path} is outside the data folder this app serves ({root})")
    return resolved


def inside_root(path: Path) -> bool:
    """For files found inside a confined folder: does a symlink lead out of the root?"""
    root = data_root()
    if root is None:
        return True
    resolved = path.resolve()
    return resolved == root or root in resolved.parents
