"""Step 5 · Look inside: try a stored model on a new image, see where it looks, read its
curves per class and a map of what it learned, and hand out a report. Never trains."""

import streamlit as st

from lib.errors import one_line
from lib.i18n import _
from lib.runs.store import RunStore, StoreError
from lib.ui import cache, inspect_cache, inspect_views, present, state
from lib.ui.table_labels import STATUS
from lib.ui.text import md

st.title(_("5 · Look inside"))
ds = cache.current_dataset()
root = cache.store_root()
configs, broken = RunStore(root).list_runs()
mine = [r for r in configs if r.dataset.fingerprint == ds.fingerprint]
if not mine:
    st.info(_("No stored run for this dataset yet: train one on step 3."))
    st.stop()
ids = [r.run_id for r in mine]
labels = {
    r.run_id: (
        _("{name} · {epochs} epochs · {status}")
        if present.presenting()
        else _("{name} · {epochs} epochs · {status} · id {id}")
    ).format(name=r.display_name, epochs=r.epochs_done, status=_(STATUS.get(r.status, r.status)), id=r.run_id)
    for r in mine
}
if st.session_state.get(state.INSPECT_RUN) not in ids:  # first visit: the run shown on step 3, else the newest
    current = st.session_state.get(state.CURRENT_RUN)
    st.session_state[state.INSPECT_RUN] = current if current in ids else ids[0]
run_id = st.selectbox(_("Run"), ids, format_func=labels.get, key=state.INSPECT_RUN)
try:
    run = cache.stored_run(root, run_id)
    model = cache.run_model(root, run_id)
    preprocess = inspect_cache.preprocessor(root, run_id, ds)
except StoreError as exc:
    st.error(md(one_line(exc)))  # in the reader's language, shown as text
    st.stop()
if run.status != "complete":
    st.warning(_("This run is {status}: a partly trained model.").format(status=_(STATUS.get(run.status, run.status))))

tabs = st.tabs(
    [_("Try it"), _("Where it looks"), _("Curves per class"), _("Map of what it learned"), _("Report")],
    key="inside_tabs",
)
with tabs[0]:
    tried = inspect_views.try_ui(run, ds, model, preprocess)
with tabs[1]:
    inspect_views.where_ui(run, ds, model, preprocess, tried)
with tabs[2]:
    inspect_views.curves_ui(run)
with tabs[3]:
    inspect_views.map_ui(run, ds, root)
with tabs[4]:
    inspect_views.report_ui(run, ds, root)
