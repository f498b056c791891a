"""The choices a reload or a shared link restores: data set, imbalance, augmentation (st.query_params)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from lib.augment import settings as augment
from lib.data.sources import DatasetSpec
from lib.ui import state, url_state
from tests.helpers import ROOT


def test_query_parameters_round_trip():
    config = augment.check({"rotation_range": 10, "horizontal_flip": True})
    params = url_state.params_for(DatasetSpec("shapes"), (1, 0.25), config)
    assert params == {
        "dataset": "shapes",
        "imbalance": "1:0.25",
        "augment": '{"horizontal_flip":true,"rotation_range":10}',
    }
    assert url_state.spec_from_params(params) == DatasetSpec("shapes")
    assert url_state.parse_imbalance(params["imbalance"]) == (1, 0.25)
    assert augment.from_json(params["augment"]) == config
    folder = url_state.params_for(DatasetSpec("folder", "/data/flowers"), None, augment.default_config())
    assert folder == {"dataset": "folder", "path": "/data/flowers"}
    assert url_state.spec_from_params(folder) == DatasetSpec("folder", "/data/flowers")
    assert url_state.params_for(DatasetSpec("npz", "x.npz", "ab12"), None, None) == {}  # an upload: not linkable
    for bad in ("", "x", "1:2", "-1:0.5", "1:0"):
        assert url_state.parse_imbalance(bad) is None


def test_a_link_restores_data_set_imbalance_and_augmentation():
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.query_params["dataset"] = "shapes"
    at.query_params["imbalance"] = "1:0.5"
    at.query_params["augment"] = '{"rotation_range":15}'
    at.run()
    assert not at.exception, at.exception
    assert at.session_state[state.DATASET_SPEC] == DatasetSpec("shapes")
    assert at.session_state[state.IMBALANCE] == (1, 0.5)
    assert at.session_state[state.AUGMENT]["rotation_range"] == 15
    assert at.selectbox(key="source_choice").value == "shapes"
    assert any("In use:" in m.value and "shapes" in m.value for m in at.sidebar.markdown)
    # The URL keeps them on every later run, and follows a change.
    at.selectbox(key="source_choice").select("digits").run()
    assert not at.exception, at.exception
    assert at.query_params["dataset"] in ("digits", ["digits"])
    assert "imbalance" not in at.query_params  # a new data set starts without imbalance
    assert at.session_state[state.IMBALANCE] is None  # (the Dataset page's controls used to put it back)
