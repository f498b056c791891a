"""The one place TensorFlow/Keras get imported (lazily: the import costs seconds).

TensorFlow's C++ start-up writes CUDA probing lines straight to file descriptor 2 before its
logging is configured; they are noise on a CPU laptop and break the CLI's one-line errors,
so the import runs with fd 2 pointed at /dev/null.

Served to a class, several sessions (threads) may ask for Keras at the same moment: a lock
makes the others wait for the first import to finish. (`sys.modules` holds a module while it
is still being imported, so it must not be used as the "already imported" test.)
"""

from __future__ import annotations

import os
import sys
import threading
from types import ModuleType

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
    return keras
