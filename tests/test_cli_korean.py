"""The CLI in Korean (issue 27): with `--lang ko` or a Korean LANG, what train, report, export and
predict print is Korean (tests/english_text.py finds no English sentence outside names, numbers and
code), printed tables have Korean headers, errors and option help are Korean; without them the output
is the English it always was (other tests grep it). Each a real CLI subprocess with a temp --store."""

from __future__ import annotations

import re

import pytest

from tests.english_text import english_runs
from tests.test_cli import cli

pytestmark = pytest.mark.slow

ENGLISH = {"LANG": "C.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}
KOREAN_LANG = {"LANG": "ko_KR.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}
RUN_NAME = "mlp · 1 ep · no aug · seed 0"  # a run's name is the same for everyone in the room
TRAIN = ("train", "digits", "--model", "mlp", "--epochs", "1")


def _ok(r) -> str:
    assert r.returncode == 0, r.stderr
    return r.stdout


def _no_english(text: str) -> None:
    found = english_runs(text, [RUN_NAME])
    assert not found, f"English sentences in the Korean output: {found}\n{text}"


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """One quick run, trained through the English CLI: (store, run id, what train printed)."""
    store = tmp_path_factory.mktemp("runs-cli-ko")
    out = _ok(cli(*TRAIN, "--store", str(store), env=ENGLISH))
    run_id = next(line.split()[2] for line in out.splitlines() if line.startswith("run id: "))
    return store, run_id, out


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    from PIL import Image

    path = tmp_path_factory.mktemp("picture") / "eight.png"
    Image.new("L", (8, 8), 128).save(path)
    return path


def test_train_with_lang_ko_prints_korean_epochs_notes_report_and_headers(tmp_path):
    out = _ok(cli(*TRAIN, "--store", str(tmp_path), "--lang", "ko", env=ENGLISH))
    lines = out.splitlines()
    assert lines[0].startswith("에포크 1/1  손실 ") and "  정확도 " in lines[0] and "  검증 정확도 " in lines[0]
    assert lines[1].startswith("학습 결과 ID: ") and lines[1].endswith("(에포크 1번 학습)")
    assert "참고: 데이터 증강 없음: 픽셀에 1/255를 곱함" in lines
    assert any(line.startswith(f"학습 결과 {RUN_NAME} (ID ") and "· 상태 완료 · 에포크 1" in line for line in lines)
    header = next(line for line in lines if "정밀도" in line)
    assert header.split() == ["정밀도", "재현율", "F1", "점수", "이미지", "수"]
    assert any(line.startswith("매크로 평균 ") for line in lines)  # scikit-learn's own row labels too
    assert "혼동 행렬 (행은 실제, 열은 예측):" in lines
    assert "정확도: " in out and "다수 클래스 기준선: " in out
    _no_english(out)
    again = _ok(cli(*TRAIN, "--store", str(tmp_path), env=KOREAN_LANG))  # the same run: loaded, said in Korean
    assert "(저장소에서 불러왔습니다. 다시 학습하지 않았습니다)" in again.splitlines()[0]
    _no_english(again)


def test_report_export_and_predict_speak_korean_with_a_korean_lang(stored, image, tmp_path):
    store, run_id, _out = stored
    report = _ok(cli("report", run_id, "--store", str(store), "--html", str(tmp_path / "r.html"), env=KOREAN_LANG))
    assert "혼동 행렬 (행은 실제, 열은 예측):" in report
    assert f"HTML 리포트를 {tmp_path / 'r.html'}에 저장했습니다" in report
    _no_english(report)

    export = _ok(cli("export", run_id, "--store", str(store), env=KOREAN_LANG))
    assert "바이트). 전체 model.keras처럼 uint8 이미지 0..255를 받습니다" in export
    assert "LiteRT float32(으)로 이 테스트 데이터에서" in export
    header = next(line for line in export.splitlines() if "파일 크기" in line)
    assert "균형 정확도" in header and "이미지당 ms" in header
    assert any("재현율 변화 (%p)" in line for line in export.splitlines())
    _no_english(export)

    shown = _ok(cli("report", run_id, "--store", str(store), "--lang", "ko", env=ENGLISH))
    assert "내보낸 모델 (LiteRT, 테스트 데이터에서 다시 실행):" in shown  # the export, listed under the report
    _no_english(shown)

    predict = _ok(cli("predict", run_id, str(image), "--store", str(store), env=KOREAN_LANG))
    first, *ranks = predict.splitlines()
    assert first.startswith(f"학습 결과 {RUN_NAME} (ID {run_id}) · mlp · eight.png")
    assert len(ranks) == 3 and ranks[0].startswith("  1. ")
    _no_english(predict)


def test_english_output_is_what_it_always_was(stored, image, tmp_path):
    store, run_id, out = stored
    lines = out.splitlines()
    assert lines[0].startswith("epoch 1/1  loss ") and "  val_loss " in lines[0] and "  val_accuracy " in lines[0]
    assert lines[1] == f"run id: {run_id} (trained 1 epoch)"
    assert lines[2:4] == ["note: no augmentation: pixels rescaled by 1/255", "note: trained on the CPU"]
    assert f"run {RUN_NAME} (id {run_id}) · mlp · digits · status complete · 1 epochs" in lines
    assert "              precision  recall  f1-score  support" in lines
    assert "confusion matrix (rows true, columns predicted):" in lines
    assert any(line.startswith("accuracy: ") and "  balanced accuracy: " in line for line in lines)

    export = _ok(cli("export", run_id, "--store", str(store), env=ENGLISH)).splitlines()
    written = re.escape(f"written {store / '.exports' / run_id / 'model_float32.tflite'} (")
    assert re.fullmatch(
        written + r"[\d,]+ bytes\); it takes uint8 images 0\.\.255, like the whole model\.keras", export[1]
    )
    assert "            model file size (KB) accuracy balanced accuracy agreement ms per image" in export
    assert export[-1] == "LiteRT float32 costs no class anything on this test set: no recall or precision went down."

    report = _ok(cli("report", run_id, "--store", str(store), "--html", str(tmp_path / "r.html"), env=ENGLISH))
    assert "\nexports (LiteRT, run back on the test split):\n" in report
    assert report.endswith(f"\n\nHTML report written to {tmp_path / 'r.html'}\n")

    predict = _ok(cli("predict", run_id, str(image), "--store", str(store), env=ENGLISH)).splitlines()
    assert predict[0] == f"run {RUN_NAME} (id {run_id}) · mlp · eight.png"


def test_a_collapsed_run_is_warned_about_in_korean(tmp_path):
    out = _ok(cli(*TRAIN, "--learning-rate", "5", "--store", str(tmp_path), "--lang", "ko", env=ENGLISH))
    warning = next(line for line in out.splitlines() if line.startswith("경고: "))
    assert warning.startswith("경고: 이 모델은 과제를 배우지 못했습니다: ")
    assert "짐작되는 원인: 학습률 5이(가) 큽니다" in warning and "너무 적은 에포크(1)" in warning
    _no_english(out)


def test_errors_and_option_help_in_korean_and_english_as_before(tmp_path):
    missing = cli("report", "nope", "--store", str(tmp_path), "--lang", "ko", env=ENGLISH)
    assert missing.returncode == 2 and missing.stderr.strip() == f"오류: {tmp_path}에 학습 결과 nope이(가) 없습니다"
    bad = cli("train", "digits", "--epochs", "0", env=KOREAN_LANG)
    assert bad.returncode == 2 and "1부터 10,000까지의 정수여야 합니다" in bad.stderr
    assert bad.stderr.startswith("오류: ") and bad.stderr.count("\n") == 1
    english = cli("train", "digits", "--epochs", "0", env=ENGLISH)
    assert english.stderr == "error: argument --epochs: must be a whole number from 1 to 10,000, not '0'\n"

    help_ko = _ok(cli("train", "--help", "--lang", "ko", env=ENGLISH))
    assert help_ko.startswith("사용법: python -m lib.cli train ") and "\n옵션:\n" in help_ko
    assert "이 도움말을 보여 주고 끝냅니다" in help_ko and "학습 결과 저장소 폴더" in help_ko
    _no_english(re.sub(r"\{[^}]*\}", " ", help_ko))  # {adam,sgd,rmsprop}: the values to type, code
    help_en = _ok(cli("train", "--help", env=ENGLISH))
    assert help_en.startswith("usage: python -m lib.cli train ") and "\noptions:\n" in help_en
    assert (
        "show this help message and exit" in help_en
        and "run store folder (default: runs/ or $EXPLORER_RUNS)" in help_en
    )
