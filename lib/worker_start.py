"""Our worker processes start without the parent's __main__.

multiprocessing's "spawn" and "forkserver" children run the parent's `__main__` again before
their target. In a Streamlit server `__main__` is, while any session's script runs, that page
script: a worker would run the page (and a script run by hand would run again in each child).
Our workers need nothing from `__main__` (their targets live in `lib`), so a process whose name
starts with a prefix registered here is started without it.
"""

from __future__ import annotations

from multiprocessing import spawn
from typing import Any

_PREFIXES: set[str] = set()


def without_main(prefix: str) -> str:
    """Processes named `prefix...` start without `__main__`; returns the prefix."""
    _PREFIXES.add(prefix)
    return prefix


def _preparation_data(name: str, _original: Any = spawn.get_preparation_data) -> dict[str, Any]:
    data = _original(name)
    if name.startswith(tuple(_PREFIXES)):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


spawn.get_preparation_data = _preparation_data
