"""Everything that imports Streamlit: caching, session-state keys, the sidebar, widget
builders (`*_ui` functions that return plain values) and the views of a run."""
