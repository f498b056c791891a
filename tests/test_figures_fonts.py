"""The pictures the server draws (TensorBoard's confusion image): Hangul drawn with a system CJK
font, class indices where no font can draw a name (said once in the run's notes), and every
title and label inside the picture, 2 to 20 classes, long names."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lib.data.dataset import Dataset
from lib.data.sources import load_digits
from lib.evaluate import fonts
from lib.evaluate.figures import TITLE, confusion_image, confusion_texts
from lib.train.settings import TrainSettings
from lib.train.training import train

CAT, DOG = "고양이", "강아지"
NAME_SETS = {
    "korean": lambda k: [f"{['고양이', '강아지', '햄스터', '고슴도치'][i % 4]} {i}" for i in range(k)],
    "long korean": lambda k: [f"아주 긴 클래스 이름 번호 {i} 입니다 정말로" for i in range(k)],
    "long latin": lambda k: [f"a rather long class name number {i}" for i in range(k)],
    "short": lambda k: [str(i) for i in range(k)],
}


def _cm(k: int) -> np.ndarray:
    return np.random.default_rng(k).integers(0, 30, (k, k))


@pytest.mark.parametrize("k", [2, 3, 7, 12, 20])
@pytest.mark.parametrize("kind", list(NAME_SETS))
def test_every_text_lies_inside_the_picture_and_is_drawn(k, kind):
    names = NAME_SETS[kind](k)
    img = confusion_image(_cm(k), names)
    h, w, _ = img.shape
    texts = confusion_texts(names)
    assert [t.text for t in texts][0] == TITLE and len(texts) == 1 + 2 * k + 2
    for t in texts:
        x0, y0, x1, y1 = t.box
        assert 0 < x0 < x1 < w and 0 < y0 < y1 < h, (t, (w, h))
        ink = img[y0:y1, x0:x1].min(axis=2) < 128
        assert ink.any(), t  # the text is there, not only measured
    for a, b in itertools.combinations(texts, 2):  # no text drawn over another
        ax0, ay0, ax1, ay1 = a.box
        bx0, by0, bx1, by1 = b.box
        assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, (a, b)
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    assert (border == 255).all()  # nothing reaches the edge, so nothing is cut there


def test_long_names_end_in_an_ellipsis_never_at_the_edge():
    names = ["x" * 80, "y"]
    shown = [t.text for t in confusion_texts(names)]
    assert shown[1] == "x" * 23 + "…" and shown[2] == "y"


def test_hangul_is_drawn_with_a_font_that_has_it():
    """Empty boxes (.notdef) look alike for every name of the same length; real glyphs do not."""
    assert fonts.cjk_font() is not None, "a CJK font is installed (Debian: fonts-noto-cjk)"
    names = [CAT, DOG]
    img = confusion_image(_cm(2), names)
    rows = confusion_texts(names)[1:3]
    assert [t.text for t in rows] == names
    crops = [img[t.box[1] : t.box[3], t.box[0] : t.box[2]] for t in rows]
    assert crops[0].shape != crops[1].shape or not np.array_equal(crops[0], crops[1])
    font, fits = fonts.font_for((CAT, DOG), 16)
    assert fits == (True, True) and fonts.draws(font, "정확도 혼동 행렬")
    assert not fonts.draws(fonts.default_font(16), CAT)  # why a second font is needed at all


def test_latin_names_keep_the_default_font_whatever_is_installed(tmp_path, monkeypatch):
    names = ["circle", "square", "triangle"]
    with_font = confusion_image(_cm(3), names)
    assert fonts.font_for(tuple(names), 16)[0].getname()[0] == fonts.default_font(16).getname()[0]
    monkeypatch.setenv("EXPLORER_FONTS", str(tmp_path))  # no font files there
    np.testing.assert_array_equal(confusion_image(_cm(3), names), with_font)


def test_without_a_cjk_font_names_become_class_indices(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_FONTS", str(tmp_path))
    assert fonts.cjk_font() is None
    names = [CAT, "dog", DOG]
    assert [t.text for t in confusion_texts(names)][1:4] == ["#0", "dog", "#2"]
    note = fonts.missing_names_note(tuple(names))
    assert "#0, #2" in note and "fonts-noto-cjk" in note
    monkeypatch.setenv("EXPLORER_FONTS", fonts.FONT_PLACES[0])  # a place given by hand is honoured
    assert fonts.cjk_font() is not None and fonts.missing_names_note(tuple(names)) == ""


def test_a_run_without_a_cjk_font_says_so_once_in_its_notes(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_FONTS", str(tmp_path / "none"))
    digits = load_digits()
    keep_train, keep_test = digits.y_train < 2, digits.y_test < 2
    ds = Dataset(
        "두 숫자",
        digits.x_train[keep_train][:200],
        digits.y_train[keep_train][:200],
        digits.x_test[keep_test],
        digits.y_test[keep_test],
        (CAT, DOG),
    )
    result = train(ds, TrainSettings(model="mlp", epochs=2), tb_dir=tmp_path / "tb")
    said = [n for n in result.notes if "class numbers" in n]
    assert len(said) == 1 and "#0, #1" in said[0], result.notes
