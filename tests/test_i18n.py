"""The Korean catalogue: complete, placeholders equal, in step with the marked strings of the
code; resolved per session (never process-wide); the sidebar switch kept in the URL; the CLI
in the language LANG/LC_ALL or --lang ask for."""

from __future__ import annotations

import re
import string
import threading

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir, extract_from_file
from babel.messages.pofile import read_po

from lib import i18n
from tests.helpers import ROOT, app_on_page
from tests.test_cli import cli

# The same keywords `make messages` gives pybabel (-k Source:1: the sidebar's source titles).
KEYWORDS = {**DEFAULT_KEYWORDS, "Source": (1,)}


def _catalog(code: str = "ko"):
    with i18n.po_path(code).open("rb") as fh:
        return read_po(fh, locale=code)


def _messages(code: str = "ko"):
    return [m for m in _catalog(code) if m.id]


def _placeholders(text: str) -> list[str]:
    names = sorted(field for _, field, _, _ in string.Formatter().parse(text) if field is not None)
    return names + sorted(re.findall(r"%(?:\([^)]+\))?[sdifr]", text))


def test_every_catalogue_message_has_a_korean_translation():
    messages = _messages()
    assert len(messages) >= 40
    untranslated = [m.id for m in messages if not m.string or m.fuzzy]
    assert not untranslated, f"{len(untranslated)} messages without a Korean translation: {untranslated[:5]}"


def test_placeholders_are_the_same_in_both_languages():
    differ = [(m.id, m.string) for m in _messages() if _placeholders(m.id) != _placeholders(m.string)]
    assert not differ, differ


def test_placeholder_check_catches_a_difference():
    """The check above can fail: a translation that drops or renames a placeholder."""
    assert _placeholders("Loaded {name}: {count} images") != _placeholders("불러왔습니다: {name}")
    assert _placeholders("Loaded {name}: {count} images") != _placeholders("{nme}: 이미지 {count}장")
    assert _placeholders("Loaded {name}: {count} images") == _placeholders("{name}: 이미지 {count}장")


def test_the_catalogue_holds_every_string_the_code_marks():
    """A new _("...") in the code without its Korean entry fails here (run `make messages`)."""
    found = [m[1] for m in extract_from_file("python", ROOT / "streamlit_app.py", keywords=KEYWORDS)]
    for folder in ("lib", "pages"):
        found += [m[2] for m in extract_from_dir(ROOT / folder, [("**.py", "python")], keywords=KEYWORDS)]
    marked = {m if isinstance(m, str) else m[0] for m in found}
    catalogue = {m.id if isinstance(m.id, str) else m.id[0] for m in _messages()}
    assert "1 · Dataset" in marked and "digits (scikit-learn, 8x8)" in marked  # the extraction sees them
    missing = sorted(marked - catalogue)
    assert not missing, f"marked in the code but not in the catalogue (run `make messages`): {missing[:5]}"
    stale = sorted(catalogue - marked)
    assert not stale, f"in the catalogue but no longer in the code (run `make messages`): {stale[:5]}"


def test_translations_use_the_tutorials_vocabulary():
    ko = {m.id: m.string for m in _messages()}
    assert ko["2 · Augmentation"] == "2 · 데이터 증강"
    assert "혼동 행렬" in ko["print a stored run's test report and confusion matrix"]
    assert (
        "미세 조정"
        in ko["the transfer-learning ladder: own CNN, feature extraction, fine-tuning, fine-tuning + augmentation"]
    )
    assert (
        ko["Transfer"] == "전이 학습"
        and "특성 추출"
        in ko["the transfer-learning ladder: own CNN, feature extraction, fine-tuning, fine-tuning + augmentation"]
    )


def test_language_codes_from_locales_and_the_environment():
    assert [i18n.code_for(t) for t in ("ko", "ko-KR", "ko_KR.UTF-8", "KO", "en-US", "de", "", None)] == [
        "ko",
        "ko",
        "ko",
        "ko",
        "en",
        "en",
        "en",
        "en",
    ]
    assert i18n.from_environment({"LANG": "ko_KR.UTF-8"}) == "ko"
    assert i18n.from_environment({"LANG": "ko_KR.UTF-8", "LC_ALL": "C.UTF-8"}) == "en"  # LC_ALL wins
    assert i18n.from_environment({"LC_MESSAGES": "ko_KR.UTF-8", "LANG": "en_US.UTF-8"}) == "ko"


def test_two_sessions_at_once_keep_their_own_language():
    """Sessions are threads of one process: each thread's language is its own."""
    barrier = threading.Barrier(2)
    seen: dict[str, list[str]] = {}

    def session(code: str) -> None:
        with i18n.using(code):
            barrier.wait()  # both languages set before either translates
            seen[code] = [i18n._("1 · Dataset"), i18n._("Show code")]
            barrier.wait()
            seen[code].append(i18n._("Load folder"))

    threads = [threading.Thread(target=session, args=(code,)) for code in ("ko", "en")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen["ko"] == ["1 · 데이터셋", "코드 보기", "폴더 불러오기"]
    assert seen["en"] == ["1 · Dataset", "Show code", "Load folder"]
    assert i18n._("1 · Dataset") == "1 · Dataset"  # this thread was never switched


def _sidebar_text(at) -> str:
    sidebar = at.sidebar
    return " ".join([h.value for h in sidebar.header] + [w.label for w in [*sidebar.toggle, *sidebar.selectbox]])


def test_lang_in_the_url_gives_a_korean_sidebar_and_switching_keeps_every_choice():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.query_params["lang"] = "ko"
    at.run()
    assert not at.exception, at.exception
    text = _sidebar_text(at)
    assert "데이터셋" in text and "발표 모드 (프로젝터)" in text and "데이터 출처" in text, text
    assert "digits (손글씨 숫자, 8x8)" in at.selectbox(key="source_choice").options
    # AppTest formats a selectbox's value with its format_func in the test's own thread, which has
    # no session: tell that thread the language the options were drawn in.
    with i18n.using("ko"):
        at.selectbox(key="source_choice").set_value("shapes").run()
        at.toggle(key="present").set_value(True).run()
        assert at.query_params["lang"] == "ko" and at.query_params["present"] == "1"
        at.selectbox(key="lang").set_value("en").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="source_choice").value == "shapes"  # the choices survive the switch
    assert "shapes (shipped, 32x32 colour)" in at.selectbox(key="source_choice").options
    assert at.toggle(key="present").value is True
    assert "Present (projector)" in _sidebar_text(at) and "데이터셋" not in _sidebar_text(at)
    assert "lang" not in at.query_params  # English is what this (locale-less) browser gets anyway
    at.selectbox(key="lang").set_value("ko").run()
    assert at.query_params["lang"] == "ko" and at.selectbox(key="source_choice").value == "shapes"


def test_without_lang_in_the_url_the_app_is_english_for_a_browser_without_korean():
    at = app_on_page()
    assert at.selectbox(key="lang").value == "en"
    assert "Present (projector)" in _sidebar_text(at)


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--lang", "ko", "--help"), {"LANG": "en_US.UTF-8"}), (("--help",), {"LANG": "ko_KR.UTF-8", "LC_ALL": ""})],
)
def test_cli_help_in_korean(args, env):
    r = cli(*args, env=env)
    assert r.returncode == 0, r.stderr
    assert "데이터셋 요약과 클래스별 이미지 수를 출력합니다" in r.stdout and "--lang {en,ko}" in r.stdout


def test_cli_inspect_after_the_command_with_lang_ko_and_english_by_default():
    ko = cli("inspect", "shapes", "--lang", "ko", env={"LANG": "C.UTF-8", "LC_ALL": ""})
    assert ko.returncode == 0, ko.stderr
    assert "데이터 누수: 테스트 이미지 0장이 학습 이미지와 똑같습니다" in ko.stdout
    assert "경고: 클래스 불균형이 큽니다" in ko.stdout
    en = cli("inspect", "shapes", env={"LANG": "C.UTF-8", "LC_ALL": ""})
    assert "leakage: 0 test image(s)" in en.stdout
    bad = cli("--lang", "xx", "inspect", "shapes")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--lang" in bad.stderr


def test_a_data_sets_notes_are_english_as_stored_and_korean_where_shown():
    """Notes are made once per data set (cached for every session, stored in runs): as strings they
    are the English sentence; `shown()` gives the reader's language, also after a pickle round trip."""
    import pickle

    from lib.data.sources import load_digits

    note = load_digits().notes[0]
    assert note == "pixel values 0..16 scaled to 0..255; stratified 75%/25% split, seed 0"
    again = pickle.loads(pickle.dumps(note))  # st.cache_data pickles what it returns
    with i18n.using("ko"):
        assert i18n.shown(again) == "픽셀 값 0..16을 0..255로 늘렸습니다. 층화 분할 75%/25%, 시드 0"
        joined = i18n.Joined("; ", [note, i18n.Deferred(i18n.N_("pixels as they are"))])
        assert i18n.shown(joined).endswith("시드 0; 픽셀 그대로")
        assert i18n.shown("a plain stored note") == "a plain stored note"
    assert i18n.shown(again) == note and str(joined).endswith("; pixels as they are")


def test_an_explorer_error_from_lib_data_speaks_the_callers_language(tmp_path):
    from lib.data.sources import load_npz
    from lib.errors import DatasetError

    bad = tmp_path / "x.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="not a readable .npz file"):
        load_npz(bad)
    with i18n.using("ko"), pytest.raises(DatasetError, match="읽을 수 있는 .npz 파일이 아닙니다"):
        load_npz(bad)


def _raised(call) -> Exception:
    from lib.errors import ExplorerError

    with pytest.raises(ExplorerError) as info:
        call()
    return info.value


def test_errors_of_runs_train_evaluate_and_augment_are_english_as_raised_and_korean_where_shown(tmp_path):
    """The English sentence is the exception (logs, stored notes, the English tests); one_line, the
    way every page shows an error, gives it in the reader's language, with its values kept. A worker
    raises in another process with no session: the report it sends back (pickled) keeps the message,
    so the reader's session still shows it in Korean."""
    import pickle

    from lib.augment import settings as augment
    from lib.errors import one_line, portable_line
    from lib.evaluate import explain
    from lib.runs.store import RunStore
    from lib.train.settings import TrainSettings

    cases = {
        "not JSON": _raised(lambda: augment.from_json("{")),
        "rotation_range cannot be negative": _raised(lambda: augment.check({"rotation_range": -5})),
        "no run nope in": _raised(lambda: RunStore(tmp_path).load("nope")),
        "unknown model 'nope': choose": _raised(lambda: TrainSettings(model="nope").check()),
        "unknown method 'nope': choose": _raised(lambda: explain.gradcam(None, None, method="nope")),
    }
    korean = {
        "not JSON": "JSON이 아닙니다",
        "rotation_range cannot be negative": "rotation_range은(는) 음수일 수 없습니다 (-5)",
        "no run nope in": "학습 결과 nope이(가) 없습니다",
        "unknown model 'nope': choose": "알 수 없는 모델 'nope'",
        "unknown method 'nope': choose": "알 수 없는 방법 'nope'",
    }
    for english, exc in cases.items():
        assert english in str(exc) and one_line(exc) == str(exc)
        report = pickle.loads(pickle.dumps((type(exc), portable_line(exc))))  # as a worker sends it
        travelled = report[0](report[1])
        assert str(travelled) == str(exc)
        with i18n.using("ko"):
            assert korean[english] in one_line(exc), one_line(exc)
            assert one_line(travelled) == one_line(exc)


def test_a_workers_long_error_travels_whole_and_reads_in_korean():
    """The ImageNet-weights error is over 200 characters: sent back from a worker it is the whole
    message (its Deferred), which the reader's session shows in Korean (it once came back as cut
    English)."""
    import pickle

    from lib.errors import TransferError, one_line, portable_line

    raised = TransferError(  # as lib/train/transfer.py raises it offline
        i18n.N_(
            "ImageNet weights for {kind} are not in the Keras cache (~/.keras/models) and could not be "
            "downloaded (offline?): choose weights 'none' (random, not pretrained) or a local weights file "
            "[{reason}]"
        ),
        kind="vgg16",
        reason="URL fetch failure on https://storage.googleapis.com/tensorflow/keras-applications/vgg16",
    )
    assert len(str(raised)) > 200
    kind, line = pickle.loads(pickle.dumps((type(raised), portable_line(raised))))
    travelled = kind(line)
    assert str(travelled) == str(raised)
    with i18n.using("ko"):
        shown = one_line(travelled)
    assert "ImageNet" in shown and "Keras" in shown and re.search("[가-힣]", shown), shown


def test_augmentation_captions_and_preset_names_in_the_readers_language():
    from lib.augment import settings as augment
    from lib.augment.preview import describe_params

    drawn = {"theta": 5.0, "tx": 1.25, "flip_horizontal": True, "brightness": 1.1}
    assert describe_params(drawn) == "rot +5°, dx +1.2px, h\u2011flip, bright ×1.10"
    assert describe_params({}) == "no change"
    with i18n.using("ko"):
        assert describe_params(drawn) == "회전 +5°, 좌우 +1.2px, 좌우\u00a0반전, 밝기 ×1.10"
        assert describe_params({}) == "변화 없음"
        assert i18n._(augment.PRESET_TITLES[augment.DEFAULT_PRESET]) == "튜토리얼: 회전 10, 이동 0.1, 뒤집기"
    assert set(augment.PRESET_TITLES) == {*augment.PRESETS, augment.CUSTOM}  # every preset has its title


def test_a_runs_stored_notes_are_shown_in_korean_with_their_values():
    """Notes come back from a run's JSON as plain English: the known ones are shown translated,
    their values kept; the most specific template wins; an unknown note stays as stored."""
    from lib.ui.run_notes import shown_note

    with i18n.using("ko"):
        assert shown_note("trained on the CPU") == "CPU에서 학습"
        assert shown_note("trained 2 epochs") == "에포크 2번 학습"  # a run's status message
        assert shown_note("trained 1 epoch") == "에포크 1번 학습"
        assert shown_note("trained on the GPU (/GPU:0): the only local device, nothing to mirror").startswith(
            "GPU (/GPU:0)에서 학습: 로컬 장치가 하나뿐"
        )
        assert shown_note("trained on the Ray node 127.0.0.1") == "Ray 노드 127.0.0.1에서 학습"
        assert shown_note("uploaded my model.keras; test images scaled to 0..1").startswith("my model.keras을(를) 올림")
        assert shown_note("something a later version wrote") == "something a later version wrote"
    assert shown_note("trained on the CPU") == "trained on the CPU"


def test_korean_charts_translate_titles_and_legend_labels_but_not_their_data():
    """Tests and tooltips read the data values (train, validation, exact ...): those stay English;
    the legend shows them translated through labelExpr, and a projector's title lines break
    between Korean words, each line within the room's width (a Hangul letter counts two)."""
    import pandas as pd

    from lib import charts

    history = pd.DataFrame(
        {"epoch": [1, 2], "loss": [1.0, 0.5], "val_loss": [1.2, 0.7], "val_recall_0": [0.5, 0.6]}
        | {"val_batch_recall_0": [0.4, 0.5]}
    )
    english = charts.curves_chart(history, "loss").to_dict()
    assert "labelExpr" not in str(english) and english["title"] == "loss: train vs validation"
    with i18n.using("ko"):
        spec = charts.curves_chart(history, "loss").to_dict()
        per_class = charts.per_class_chart(history, ["고양이"], [0], "recall", batch_averaged=True).to_dict()
        room = charts.for_room(
            charts.confusion_heatmap(
                pd.DataFrame(
                    {"true": ["a"], "predicted": ["a"], "value": [1], "count": [1], "label": ["1"]}
                    | {"share_of_true": [1.0], "share_of_pred": [1.0]}
                ),
                "true",
                "검증, 에포크 3, 실제 클래스 기준 정규화, 테스트 데이터 이미지 450장",
            )
        ).to_dict()
    assert spec["title"] == "손실: 학습 대 검증"
    data = next(iter(spec["datasets"].values()))
    assert {row["split"] for row in data} == {"train", "validation"}
    legend = spec["layer"][1]["encoding"]["color"]["legend"]
    assert "'학습'" in legend["labelExpr"].replace('"', "'") and "'검증'" in legend["labelExpr"].replace('"', "'")
    rows = next(iter(per_class["datasets"].values()))
    assert {row["how"] for row in rows} == {charts.EXACT, charts.BATCH_AVERAGED}
    dash = per_class["layer"][0]["encoding"]["strokeDash"]["legend"]["labelExpr"]
    assert "정확한 값 (검증 데이터 전체)" in dash and "배치 평균" in dash
    lines = room.get("title") or room["layer"][0]["title"]  # the heatmap's title sits on its layers
    assert (
        isinstance(lines, list)
        and " ".join(lines) == "검증, 에포크 3, 실제 클래스 기준 정규화, 테스트 데이터 이미지 450장"
    )
    assert all(charts._width(line) <= charts.ROOM_TITLE_CHARS for line in lines)


def test_train_and_evaluate_lessons_speak_the_callers_language():
    """batch_gap_sentences and the export lesson are shared by the page and the CLI: `_()` at call
    time gives Korean to a Korean caller and the English as before to everyone else."""
    from lib.evaluate import metrics

    english = metrics.batch_gap_sentences("cat", "precision", 2, 0.9, 0.8)
    assert english[0] == "Largest difference: class 'cat' precision at epoch 2: exact 0.900, batch-averaged 0.800."
    with i18n.using("ko"):
        korean = metrics.batch_gap_sentences("cat", "precision", 2, 0.9, 0.8)
        recall = metrics.batch_gap_sentences("cat", "recall", 2, 0.9, 0.8)
    assert korean[0] == "가장 큰 차이: 클래스 'cat'의 에포크 2 정밀도. 정확한 값 0.900, 배치 평균 0.800."
    assert all("정밀도" in s for s in korean[:2]) and not any("재현율" in s for s in korean)
    assert all("재현율" in s for s in recall[:2]) and not any("정밀도" in s for s in recall)
