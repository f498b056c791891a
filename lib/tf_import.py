"""The one place TensorFlow/Keras get imported (lazily: the import costs seconds).

TensorFlow's C++ start-up writes CUDA probing lines straight to file descriptor 2 before its
logging is configured; they are noise on a CPU laptop and break the CLI's one-line errors,
so the import runs with fd 2 pointed at /dev/null.

Served to a class, several sessions (threads) may ask for Keras at the same moment: a lock
makes the others wait for the first import to finish. (`sys.modules` holds a module while it
is still being imported, so it must not be used as the "already imported" test.)

`EXPLORER_LOGICAL_CPUS=N` (N >= 2) splits the CPU into N logical devices right after the import,
before TensorFlow starts its runtime: `--devices all` then mirrors training over them, so the
multi-device path runs (slowly) on a laptop without GPUs. It has no effect on a machine with GPUs.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from types import ModuleType

from lib.errors import SettingsError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_LOCK = threading.Lock()
_KERAS: ModuleType | None = None


def import_keras() -> ModuleType:
    global _KERAS
    if _KERAS is not None:
        return _KERAS
    with _LOCK:
        if _KERAS is None:
            _KERAS = _import_quietly()
    return _KERAS


def _import_quietly() -> ModuleType:
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    _split_cpu(os.environ.get("EXPLORER_LOGICAL_CPUS", ""))
    return keras


def _split_cpu(wanted: str) -> None:
    if not wanted.strip():
        return
    import tensorflow as tf

    try:
        n = int(wanted)
    except ValueError:
        n = 0
    if n < 2:
        raise SettingsError(f"EXPLORER_LOGICAL_CPUS must be a whole number of at least 2, not {wanted!r}")
    if tf.config.list_physical_devices("GPU"):
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    # RuntimeError: the runtime had started already (something ran an op): keep one device
    with contextlib.suppress(RuntimeError):
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
