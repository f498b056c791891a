"""The one place TensorFlow/Keras get imported (lazily: the import costs seconds).

TensorFlow's C++ start-up writes CUDA probing lines straight to file descriptor 2 before its
logging is configured; they are noise on a CPU laptop and break the CLI's one-line errors,
so the import runs with fd 2 pointed at /dev/null.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def import_keras() -> ModuleType:
    if "keras" in sys.modules:
        return sys.modules["keras"]
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
