"""Router: one page per step, and the shared dataset sidebar. No logic here."""

import streamlit as st

from lib.sidebar import dataset_picker_ui

st.set_page_config(page_title="Keras image classification explorer", page_icon="🔎", layout="wide")

# Streamlit also treats a folder named pages/ as a legacy multipage app and, on reruns,
# runs a page whose URL matches its file name without this script (losing the sidebar).
# URL paths that differ from the file names keep every run going through this router.
PAGES = [
    st.Page("pages/dataset.py", title="1 · Dataset", icon="🗂️", url_path="data", default=True),
]

page = st.navigation(PAGES)
dataset_picker_ui()
page.run()
