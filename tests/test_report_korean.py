"""The HTML report in the reader's language: `build_report(..., lang=)`, the caller's language
otherwise (the CLI's --lang or LANG, the app session's), one cached report per language in the app.
A Korean report shows no English sentence outside names and code (tests/english_text.py); the
English report is the one it always was."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from lib import i18n
from lib.data.sources import load_digits
from lib.runs.report_html import build_report
from lib.runs.store import RunStore
from lib.runs.train_or_load import train_or_load
from lib.train.training import TrainSettings
from tests.english_text import english_runs
from tests.test_cli import cli

pytestmark = pytest.mark.slow

HANGUL = re.compile(r"[\uac00-\ud7a3]")
KOREAN_HEADINGS = (
    "<h2>데이터셋</h2>",
    "<h2>설정</h2>",
    "<h2>참고 사항</h2>",
    "<h2>테스트 결과</h2>",
    "<h3>혼동 행렬 (행은 실제, 열은 예측)</h3>",
    "<h3>분류 리포트</h3>",
    "<h2>학습 곡선</h2>",
    "<h2>클래스별 곡선 (한 클래스 대 나머지)</h2>",
    "<h2>가장 확신한 오답</h2>",
)
ENGLISH_HEADINGS = (
    "<h2>Data set</h2>",
    "<h2>Settings</h2>",
    "<h3>Confusion matrix (rows true, columns predicted)</h3>",
    "<h3>Classification report</h3>",
    "<h2>Most confident mistakes</h2>",
)


class _VisibleText(HTMLParser):
    """The texts a reader sees: every text node outside <style> (the charts' SVG text included)."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        self._hidden += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._hidden -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.texts.append(data.strip())


def visible_text(page: str) -> list[str]:
    parser = _VisibleText()
    parser.feed(page)
    return parser.texts


def english_in(page: str, run) -> list[str]:
    names = (*run.class_names, run.record.display_name, str(run.record.dataset.to_dict().get("label", "")))
    # Names with a letter in them: cutting digits ("0".."9", digits' classes) out would cut up the run id.
    keep = [n for n in names if re.search(r"[^\W\d_]", n)]
    return [f"{found!r} in {text[:80]!r}" for text in visible_text(page) for found in english_runs(text, keep)]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """One quick stored run (an MLP on digits, one epoch) and the data set it was trained on."""
    store = RunStore(tmp_path_factory.mktemp("runs-report-ko"))
    ds = load_digits()
    run_id = train_or_load(ds, TrainSettings(model="mlp", epochs=1), "digits", store).run_id
    return store, run_id, ds


def test_a_korean_report_has_korean_headings_and_no_english_sentence(stored):
    store, run_id, ds = stored
    run = store.load(run_id)
    page = build_report(run, ds.x_test, lang="ko")
    assert '<html lang="ko">' in page
    for heading in KOREAN_HEADINGS:
        assert heading in page
    assert "<th>정밀도</th>" in page and "<th>재현율</th>" in page and "<th>매크로 평균</th>" not in page
    assert '<th class="l">매크로 평균</th>' in page and '<th class="l">실제 \\ 예측</th>' in page
    assert "신뢰도 그림" in page  # a chart's title, drawn into the SVG in Korean
    assert run_id in page and "학습 결과 " + run_id in page  # the run id itself stays as it is
    assert english_in(page, run) == []
    # The same check finds the English sentences of the English report: it can fail.
    assert english_in(build_report(run, ds.x_test, lang="en"), run)


def test_the_english_report_is_english_whoever_asks_for_it_by_name(stored):
    store, run_id, ds = stored
    run = store.load(run_id)
    english = build_report(run, ds.x_test)  # no language set anywhere: English
    assert '<html lang="en">' in english and not HANGUL.search(english)
    for heading in ENGLISH_HEADINGS:
        assert heading in english
    assert "<th>auc</th>" in english and "Expected calibration error (10 bins, top-label confidence): <b>" in english
    with i18n.using("ko"):
        assert build_report(run, ds.x_test, lang="en") == english
        assert build_report(run, ds.x_test) == build_report(run, ds.x_test, lang="ko")  # the caller's language


def test_the_cli_writes_the_report_in_korean_with_lang_ko_or_a_korean_lang(stored, tmp_path):
    store, run_id, _ds = stored
    unset = {"LC_ALL": "", "LC_MESSAGES": ""}
    pages = {}
    for name, args, env in (
        ("option", ("--lang", "ko"), {**unset, "LANG": "C.UTF-8"}),
        ("environment", (), {**unset, "LANG": "ko_KR.UTF-8"}),
    ):
        out = tmp_path / f"{name}.html"
        r = cli("report", run_id, "--store", str(store.root), "--html", str(out), *args, env=env)
        assert r.returncode == 0, r.stderr
        pages[name] = out.read_text(encoding="utf-8")
    for page in pages.values():
        assert '<html lang="ko">' in page and "<h3>분류 리포트</h3>" in page
        assert english_in(page, store.load(run_id)) == []


def test_the_app_caches_one_report_per_language(stored):
    """Sessions of every language share st.cache_data: an English session must not get the
    Korean report built a moment before, nor the other way round."""
    from lib.ui import inspect_cache

    store, run_id, ds = stored
    with i18n.using("en"):
        english = inspect_cache.report(str(store.root), run_id, ds)
    with i18n.using("ko"):
        korean = inspect_cache.report(str(store.root), run_id, ds)
    with i18n.using("en"):
        again = inspect_cache.report(str(store.root), run_id, ds)
    assert '<html lang="en">' in english and "<h3>Classification report</h3>" in english
    assert '<html lang="ko">' in korean and "<h3>분류 리포트</h3>" in korean
    assert again == english


@pytest.mark.parametrize(
    "settings",
    [
        TrainSettings(model="mlp"),
        TrainSettings(model="vgg16", transfer="feature_extraction"),
        TrainSettings(model="vgg16", transfer="fine_tune", unfreeze=4, weights="none"),
        TrainSettings(model="vgg16", transfer="train_all", head="tutorial", backbone_input="raw"),
    ],
)
def test_the_reports_mode_words_are_run_config_mode_text_in_english_and_korean_otherwise(settings):
    from lib.runs.config import DatasetRef, RunConfig
    from lib.runs.report_html import mode_text

    config = RunConfig(DatasetRef("digits", "digits", "f" * 16, (8, 8, 1), 10), settings)
    with i18n.using("en"):
        assert mode_text(config) == config.mode_text()
    with i18n.using("ko"):
        korean = mode_text(config)
    assert HANGUL.search(korean) and english_runs(korean) == []


def test_a_korean_reports_export_section_is_korean_too(stored):
    """Last in this file: the export it writes shows in the reports built after it."""
    from lib.runs import export

    store, run_id, ds = stored
    run = store.load(run_id)
    done = export.export_run(run, ds, "float16")  # the default folder, which the report reads
    page = build_report(run, ds.x_test, lang="ko")
    assert "<h2>내보낸 모델 (LiteRT, 테스트 데이터에서 다시 실행)</h2>" in page
    assert f"<h3>{done.title}: 클래스별</h3>" in page and "<th>재현율 변화 (%p)</th>" in page
    with i18n.using("ko"):
        lesson = export.lesson(export.per_class_table(run, done), done)
    assert HANGUL.search(lesson) and lesson.replace("'", "&#x27;") in page
    assert english_in(page, run) == []
    english = build_report(run, ds.x_test, lang="en")
    assert (
        "<h2>Exports (LiteRT, run back on the test split)</h2>" in english and "<th>recall change (pp)</th>" in english
    )
