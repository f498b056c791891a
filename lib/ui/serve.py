"""Serve the explorer: `python -m lib.ui.serve [streamlit options]` (what `make run` does).

A folder named `pages/` beside the main script puts Streamlit into its legacy multipage mode,
decided when the first session starts; in that mode the very first request of a fresh server
to a deep link (/train) answered "Page not found". This app's pages come from st.navigation
only, so the legacy mode is switched off before Streamlit starts, not from inside the router.
"""

from __future__ import annotations

import sys
from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"


def main(argv: list[str]) -> int:
    PagesManager.uses_pages_directory = False
    sys.argv = ["streamlit", "run", str(APP), *argv]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
