"""CLI parity for Look inside: `predict RUN image.png [--top k]` and `report RUN --html out.html`."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from lib.data.sources import load_digits
from lib.runs.store import RunStore
from tests.test_cli import _one_line_error, cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    store = tmp_path_factory.mktemp("cli-runs")
    r = cli("train", "digits", "--model", "cnn", "--epochs", "1", "--store", str(store))
    assert r.returncode == 0, r.stderr
    return str(store), r.stdout.split("run id: ")[1].split()[0]


def test_predict_prints_top_k_equal_to_the_stored_prediction(trained, tmp_path):
    store, run_id = trained
    ds = load_digits()
    index = 11
    Image.fromarray(ds.x_test[index][..., 0], "L").save(tmp_path / "digit.png")
    r = cli("predict", run_id, str(tmp_path / "digit.png"), "--top", "3", "--store", store)
    assert r.returncode == 0, r.stderr
    rows = re.findall(r"^\s+(\d)\. (\S+)\s+([0-9.]+)$", r.stdout, flags=re.M)
    assert [int(rank) for rank, _, _ in rows] == [1, 2, 3]
    stored = RunStore(store).load(run_id).y_prob[index]
    order = np.argsort(-stored)[:3]
    assert [name for _, name, _ in rows] == [str(i) for i in order]
    np.testing.assert_allclose([float(p) for _, _, p in rows], stored[order], atol=1e-4)
    # A photo-sized colour image is converted and resized like the dataset's images.
    Image.fromarray(np.full((120, 90, 3), 200, np.uint8)).save(tmp_path / "big.jpg")
    big = cli("predict", run_id, str(tmp_path / "big.jpg"), "--store", store)
    assert big.returncode == 0 and len(re.findall(r"^\s+\d\. ", big.stdout, flags=re.M)) == 3


def test_predict_bad_image_or_run_exits_2_with_one_line(trained, tmp_path):
    store, run_id = trained
    (tmp_path / "notes.png").write_text("not an image")
    assert "not an image" in _one_line_error(cli("predict", run_id, str(tmp_path / "notes.png"), "--store", store))
    missing = _one_line_error(cli("predict", run_id, str(tmp_path / "nope.png"), "--store", store))
    assert "cannot read" in missing
    assert "no run nope" in _one_line_error(cli("predict", "nope", str(tmp_path / "notes.png"), "--store", store))
    assert "--top" in _one_line_error(cli("predict", run_id, str(tmp_path / "notes.png"), "--top", "0"))


def test_report_html_writes_a_self_contained_file(trained, tmp_path):
    store, run_id = trained
    out = tmp_path / "report.html"
    r = cli("report", run_id, "--store", store, "--html", str(out))
    assert r.returncode == 0, r.stderr
    assert "macro avg" in r.stdout and f"HTML report written to {out}" in r.stdout
    page = out.read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, flags=re.I)
    assert "<svg" in page and "data:image/png;base64," in page
    bad = _one_line_error(cli("report", run_id, "--store", store, "--html", str(tmp_path / "no" / "dir.html")))
    assert "cannot write" in bad
