"""Serve the explorer: `python -m lib.ui.serve [streamlit options]` (what `make run` does).

A folder named `pages/` beside the main script puts Streamlit into its legacy multipage mode,
decided when the first session starts; in that mode the very first request of a fresh server
to a deep link (/train) answered "Page not found". This app's pages come from st.navigation
only, so the legacy mode is switched off before Streamlit starts, not from inside the router.

After every rerun Streamlit calls `keras.backend.clear_session()` once Keras is imported. That
resets Keras' global state for every session thread at once (another session building a model
at that moment got "The name 'conv2d' is used 2 times"), and its garbage collection holds the
GIL for ~100 ms, so the rerun's last deltas (a moved control's redrawn output) reach the browser
that much later. `keep_keras_state()` leaves Keras alone (trainings run in worker processes,
which clear their own session per run; see lib.runs.workers); .streamlit/config.toml turns off
the full collection Streamlit runs after each rerun for the same reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import script_runner
from streamlit.web import cli

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"


def _clean_problem_modules() -> None:
    """Streamlit's own clean-up after a rerun, without the Keras part (matplotlib figures are still closed)."""
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def keep_keras_state() -> None:
    """Idempotent: the router calls it too, so `streamlit run streamlit_app.py` gets it as well."""
    script_runner._clean_problem_modules = _clean_problem_modules


def main(argv: list[str]) -> int:
    PagesManager.uses_pages_directory = False
    keep_keras_state()
    sys.argv = ["streamlit", "run", str(APP), *argv]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
