"""Router: one page per step, and the shared dataset sidebar. No logic here."""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from lib.i18n import _
from lib.ui.icon import app_icon
from lib.ui.lang import init_language, language_ui
from lib.ui.present import present_toggle_ui
from lib.ui.serve import keep_keras_state
from lib.ui.sidebar import dataset_picker_ui
from lib.ui.url_state import sync_url

# Streamlit treats a folder named pages/ beside this script as a legacy multipage app and
# would run a page file on its own (without this router and its sidebar) on reruns. This
# app's pages come from st.navigation only, so switch the legacy mode off for later runs;
# URL paths that differ from the file names cover the very first run of the server.
PagesManager.uses_pages_directory = False
keep_keras_state()  # see lib.ui.serve: Streamlit would clear Keras' state after every rerun

init_language()  # before the first translated string: the URL's language, else the browser's
st.set_page_config(page_title=_("Keras image classification explorer"), page_icon=app_icon(), layout="wide")

PAGES = [
    st.Page("pages/dataset.py", title=_("1 · Dataset"), icon=":material/dataset:", url_path="data"),
    st.Page("pages/augmentation.py", title=_("2 · Augmentation"), icon=":material/transform:", url_path="augment"),
    st.Page(
        "pages/train_evaluate.py", title=_("3 · Train & Evaluate"), icon=":material/model_training:", url_path="train"
    ),
    st.Page("pages/compare.py", title=_("4 · Compare runs"), icon=":material/compare:", url_path="runs"),
    st.Page("pages/inspect.py", title=_("5 · Look inside"), icon=":material/visibility:", url_path="inside"),
]


def start() -> None:
    """The root URL opens step 1 at its own URL. Streamlit serves the default page at the root
    only, so a default step 1 made /data "Page not found" on every visit."""
    st.switch_page(PAGES[0], query_params=st.query_params.to_dict())


page = st.navigation([st.Page(start, title=_("Start"), url_path="start", default=True, visibility="hidden"), *PAGES])
present_toggle_ui()
dataset_picker_ui()
language_ui()  # last in the sidebar; its label is in both languages
sync_url(every=True)  # first thing: a page reached through a sidebar link gets its URL back
try:
    page.run()
finally:  # also after st.stop() in a page: the URL keeps the choices a reload should restore
    sync_url()
