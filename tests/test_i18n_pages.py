"""The four page bodies in Korean (Dataset, Augmentation, Compare runs, Look inside): no English
sentence among the texts they draw, through Streamlit's AppTest (tests/english_text.py says what
counts as one). The same pages in English do have them: the check can fail."""

from __future__ import annotations

import pytest

from lib import i18n
from lib.data.sources import load_digits
from lib.runs.store import RunStore
from lib.runs.train_or_load import train_or_load
from lib.train.training import TrainSettings
from lib.ui import state
from tests.english_text import english_runs
from tests.helpers import ROOT

pytestmark = pytest.mark.slow

PAGES = ("pages/dataset.py", "pages/augmentation.py", "pages/compare.py", "pages/inspect.py")
VALUE_TYPES = {"title", "header", "subheader", "markdown", "caption", "text", "info", "warning", "error", "success"}
SKIP_TYPES = {"code", "arrow_data_frame", "dataframe", "arrow_vega_lite_chart", "vega_lite_chart", "html"}


def page_texts(node) -> list[str]:
    """Every text a person reads in the main area: headings, captions, alerts, widget labels, help,
    options (as format_func shows them), tab and expander labels, metric labels, image captions."""
    texts: list[str] = []
    for child in getattr(node, "children", {}).values():
        kind = getattr(child, "type", "")
        if kind in SKIP_TYPES:
            continue
        if kind in VALUE_TYPES and isinstance(getattr(child, "value", None), str):
            texts.append(child.value)
        for attr in ("label", "help", "placeholder"):
            value = getattr(child, attr, None)
            if isinstance(value, str):
                texts.append(value)
        if kind in {"selectbox", "radio", "multiselect"}:
            texts += [str(o) for o in child.options]
        if kind == "imgs" or type(child).__name__ == "Image":
            texts += [img.caption for img in getattr(child.proto, "imgs", [])]
        proto = getattr(child, "proto", None)
        if type(child).__name__ == "UnknownElement" and proto is not None:
            texts += [getattr(proto, f) for f in ("label", "help") if isinstance(getattr(proto, f, None), str)]
        texts += page_texts(child)
    return texts


def _english_in(at, keep: tuple[str, ...]) -> list[str]:
    found = []
    for text in page_texts(at.main):
        found += [f"{run!r} in {text[:80]!r}" for run in english_runs(text, keep)]
    return found


def _open(page: str, lang: str, *, timeout: int = 240):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=timeout)
    at.query_params["lang"] = lang
    at.run()
    with i18n.using(lang):  # AppTest formats widget values in this thread (README, Languages)
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory):
    """Two quick stored runs of digits (an MLP and a CNN, one epoch each): Compare and Look inside
    have something to show."""
    store = RunStore(tmp_path_factory.mktemp("runs-ko"))
    ds = load_digits()
    ids = [train_or_load(ds, TrainSettings(model=m, epochs=1), "digits", store).run_id for m in ("mlp", "cnn")]
    return str(store.root), ids


def test_the_heuristic_finds_english_and_leaves_code_names_and_korean_alone():
    assert english_runs("학습 데이터 · the test split is untouched") == ["the test split is untouched"]
    assert english_runs("`datagen.standardize(x)`를 적용 · ImageDataGenerator의 rotation_range, PCA 축 1") == []
    assert english_runs("클래스 my cute cats: 3장", keep=("my cute cats",)) == []
    assert english_runs("fill_mode='constant'일 때, t-SNE (perplexity ≤ 30, 시드 0)") == []


def test_the_english_dataset_page_has_english_sentences():
    """The check can fail: the same page in English is full of them."""
    at = _open("pages/dataset.py", "en")
    assert len(_english_in(at, ("digits",))) >= 5


@pytest.mark.parametrize("page", PAGES)
def test_a_korean_page_shows_no_english_sentence(page, digits_runs, monkeypatch):
    root, ids = digits_runs
    monkeypatch.setenv("EXPLORER_RUNS", root)
    at = _open(page, "ko")
    keep = ("digits",)
    if page == "pages/inspect.py":  # the CNN: every step, Grad-CAM choices, the curves and the map
        with i18n.using("ko"):
            at.selectbox(key=state.INSPECT_RUN).set_value(ids[1]).run()
        assert not at.exception, at.exception
    if page == "pages/augmentation.py":  # a normalizing preset: the preprocessing trap and its chart labels
        with i18n.using("ko"):
            at.checkbox(key="aug_samplewise_center").check().run()
        assert not at.exception, at.exception
        assert any("datagen.standardize" in w.value for w in at.warning)
    # The page drew what it draws with data (not only its empty-store message), in Korean.
    if page == "pages/compare.py":
        assert any("저장된 학습 결과 2개" in s.value for s in at.subheader)
    if page == "pages/inspect.py":
        tabs = ["직접 해 보기", "어디를 보는가", "클래스별 곡선", "학습한 특성 지도", "보고서"]
        assert [t.label for t in at.tabs] == tabs
        assert any("**1. 데이터셋 이미지**" in c.value for c in at.caption)
    english = _english_in(at, keep)
    assert not english, english[:10]


def test_switching_the_language_keeps_the_pages_choices():
    """Options are codes shown through format_func and keys never depend on the language: a choice
    made in Korean is the same choice in English."""
    at = _open("pages/dataset.py", "ko")
    with i18n.using("ko"):
        assert at.radio(key="sample_split").options == ["학습", "테스트"]
        at.radio(key="sample_split").set_value("test").run()
        at.selectbox(key="sample_class").set_value(3).run()
        at.selectbox(key="lang").set_value("en").run()
    assert not at.exception, at.exception
    assert at.radio(key="sample_split").value == "test" and at.selectbox(key="sample_class").value == 3
    assert at.radio(key="sample_split").options == ["train", "test"]
    assert [t.value for t in at.title] == ["1 · Dataset"]


def test_train_and_evaluate_in_korean_shows_no_english_sentence(digits_runs, monkeypatch):
    """Train & Evaluate with the module's stored runs: the settings, the run's header and details,
    every tab (AppTest draws them all: the test evaluation, curves, per class with the batch-gap
    lesson, the traps after "Run it on this model", the code), and the export box, in Korean."""
    root, ids = digits_runs
    monkeypatch.setenv("EXPLORER_RUNS", root)
    at = _open("pages/train_evaluate.py", "ko")
    with i18n.using("ko"):
        at.selectbox(key=state.RUN_CHOICE).set_value(ids[0]).run()  # the MLP
        at.radio(key="per_class_metric").set_value("precision").run()  # the precision lesson and its tutorial figure
        at.button(key="trap_order").click().run()  # the generator-order trap's table and its "not fixes" caption
    assert not at.exception, at.exception
    assert [t.label for t in at.tabs] == [
        "테스트 평가",
        "학습 곡선",
        "에포크별 클래스 지표",
        "평가의 함정",
        "코드 보기",
    ]
    assert [m.label for m in at.metric] == ["정확도", "균형 정확도", "매크로 F1", "다수 클래스 기준선"]
    assert any("가장 큰 차이" in i.value and "정밀도" in i.value for i in at.info)
    assert any("해결이 아닌 것" in c.value for c in at.caption)
    assert any("상태 **완료** — 에포크 1번 학습" in b.value for b in at.success)  # the stored status message
    names = tuple(RunStore(root).load(run_id).record.display_name for run_id in ids)
    english = _english_in(at, ("digits", *names))
    assert not english, english[:10]


def test_the_augmentation_presets_and_preview_captions_in_korean():
    """The preset box shows the presets' Korean titles (the value stays the preset's code) and each
    augmented image's caption says in Korean how it moved ("회전 +7°, 좌우 반전", not "rot +7°, h-flip")."""
    import re

    from lib.augment import settings as augment

    at = _open("pages/augmentation.py", "ko")
    preset = at.selectbox(key="aug_preset")
    assert preset.value == augment.DEFAULT_PRESET
    with i18n.using("ko"):
        assert at.selectbox(key="aug_preset").options[:3] == ["없음", "약하게", "강하게"]
        assert "튜토리얼: 회전 10, 이동 0.1, 뒤집기" in at.selectbox(key="aug_preset").options
    texts = page_texts(at.main)
    assert any(t.startswith("회전 ") for t in texts), texts[-20:]
    # the English caption words (with their non-breaking hyphens), not `horizontal_flip` in a help text
    english = r"(?<![\w`])(rot|dx|dy|shear|bright|no change|[hv]\u2011flip|zoom\u2011[xy]|ch\u2011shift)(?![\w`])"
    left = [t for t in texts if re.search(english, t)]
    assert not left, left[:5]


def test_switching_the_language_beside_an_empty_uploader_raises_nothing():
    """The switch sets every choice again (lib/ui/lang.py); an uploader of several files holds []
    before any file and refuses a value set through session state: it is left alone."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=240)
    at.run()
    at.selectbox(key="source_choice").set_value("images").run()
    assert not at.exception, at.exception
    at.selectbox(key="lang").set_value("ko").run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["1 · 데이터셋"]


@pytest.mark.parametrize("page", ["pages/dataset.py", "pages/augmentation.py"])
def test_code_shown_to_copy_is_the_same_code_in_korean(page):
    """Code stays code: the loading and ImageDataGenerator/Keras layers snippets a Korean page shows
    are the English page's, character for character."""
    english = [c.value for c in _open(page, "en").code]
    korean = [c.value for c in _open(page, "ko").code]
    assert english and korean == english
