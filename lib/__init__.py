"""All logic of the explorer, importable without a running Streamlit."""
